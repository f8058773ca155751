"""API test fixtures: a migrated database, an app on a settable clock, tokens per scope, and
rows seeded straight into the tables the worker writes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.schema import account_risk, alerts
from distillguard.stream.api import create_app
from distillguard.stream.api.auth import create_token

with warnings.catch_warnings():  # Starlette now suggests httpx2; the pinned httpx works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    """Injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def db(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


@pytest.fixture
def engine(db: str) -> Iterator[sa.Engine]:
    e = sa.create_engine(db)
    yield e
    e.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(db: str, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(db, clock=clock)) as c:
        yield c


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[str, str]:
    """One token per role: billing, secops, exceptions (allowlist), bouncer, admin."""
    return {"billing": create_token(engine, "billing", ["risk:read"]),
            "secops": create_token(engine, "secops", ["triage"]),
            "exceptions": create_token(engine, "exceptions", ["allowlist"]),
            "bouncer": create_token(engine, "bouncer", ["decisions:read"]),
            "admin": create_token(engine, "admin", ["admin"])}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed_accounts(engine: sa.Engine, risks: dict[str, float]) -> None:
    rows = [{"account_id": a, "risk": r,
             "severity": "critical" if r >= 95 else "high" if r >= 80 else
             "medium" if r >= 50 else "low",
             "reasons": [{"code": "logprob_harvesting", "text": "one-token answers with logprobs",
                          "strength": 0.9, "evidence": {"share": 0.97}}] if r >= 50 else [],
             "seq": 100, "event_ts": T0, "updated_at": T0} for a, r in risks.items()]
    with engine.begin() as conn:
        conn.execute(account_risk.insert(), rows)


def seed_alert(engine: sa.Engine, alert_id: str, account_id: str = "acct-a",
               created_at: datetime = T0, status: str = "open") -> None:
    with engine.begin() as conn:
        conn.execute(alerts.insert().values(
            alert_id=alert_id, account_id=account_id, severity="high", risk=88.0,
            reasons=[{"code": "logprob_harvesting", "text": "t", "strength": 0.9},
                     {"code": "unlike_peers", "text": "u", "strength": 0.4}],
            evidence={"trigger_event_id": "ev-1", "seq": 100, "logprob_harvesting.share": 0.9},
            event_ts=created_at, seq=100, trigger_event_id="ev-1", status=status,
            created_at=created_at, updated_at=created_at))
