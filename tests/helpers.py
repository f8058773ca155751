"""Event builders shared by the tests."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import uuid

import psycopg2.errors
import sqlalchemy as sa
from distillguard.sinks.retry import DATABASE, retry_sync

_ids = itertools.count()
BASE_TS = 1793491200_000  # 2026-11-01T00:00:00Z in epoch ms


def event(account: str = "acct-a", ts_ms: int | None = None, **fields) -> dict:
    n = next(_ids)
    return {"event_id": f"ev-{n}", "timestamp": ts_ms if ts_ms is not None else BASE_TS + n * 1000,
            "account_id": account, **fields}


def raw(obj) -> bytes:
    return json.dumps(obj).encode()


def harvester_events(account: str, n: int, start_ms: int = BASE_TS, step_ms: int = 2000) -> list[dict]:
    """Logprob harvesting: one-token answers with full top logprobs and logit bias."""
    out = []
    for i in range(n):
        text = f"Complete the sentence number {i % 7}: the quick brown fox"
        out.append(event(account, start_ms + i * step_ms, input_tokens=20, output_tokens=1,
                         params={"temperature": 0, "max_tokens": 1, "logprobs": True,
                                 "top_logprobs": 20, "logit_bias": 50},
                         prompt={"sha256": hashlib.sha256(f"{text}{i}".encode()).hexdigest(),
                                 "simhash": f"{(0xF0F0F0F0F0F0F0F0 ^ (1 << (i % 3))):016x}",
                                 "chars": len(text), "messages": 1}))
    return out


def chat_events(account: str, n: int, start_ms: int = BASE_TS, step_ms: int = 60_000) -> list[dict]:
    """An ordinary chat customer: varied prompts, streamed answers, no logprobs."""
    out = []
    for i in range(n):
        h = hashlib.sha256(f"{account}-{i}".encode()).hexdigest()
        out.append(event(account, start_ms + i * step_ms, input_tokens=300 + i % 50,
                         output_tokens=200 + i % 80,
                         params={"temperature": 0.7, "stream": True},
                         prompt={"sha256": h, "simhash": h[:16], "chars": 400, "messages": 3}))
    return out


@contextlib.contextmanager
def scratch_database(admin_url: str):
    """A fresh, empty database on the real PostgreSQL server, dropped afterwards."""
    name = f"dg_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            _drop_database(admin, name)
        finally:
            admin.dispose()


def _drop_database(admin: sa.Engine, name: str) -> None:
    """DROP ... WITH (FORCE), retried: an autovacuum worker has no role, so a non-superuser may
    not terminate it (InsufficientPrivilege) while it visits the new database; it soon leaves."""
    def drop() -> None:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        except sa.exc.DBAPIError as err:
            raise err.orig from err  # psycopg2's own class, so retry_on can name the one to retry

    retry_sync(drop, what=f"dropping scratch database {name}", timeout_s=10.0, backoff=DATABASE,
               retry_on=(psycopg2.errors.InsufficientPrivilege,))
