"""The least-privilege database role of the API (migration 0005): a login in
`distillguard_api` reads everything the API shows and writes only the triage tables; it cannot
write account_risk, risk history, or create decisions. The API runs fully on it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import plan
from distillguard.sinks.decisions import DecisionStore
from distillguard.stream.api import create_app
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.api.conftest import bearer, seed_accounts, seed_alert

pytestmark = pytest.mark.postgres


@pytest.fixture
def api_url(db, postgres_admin_url):
    """A throwaway login that is a member of distillguard_api, and its URL on the test db."""
    name, password = f"dg_api_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' "
                             "IN ROLE distillguard_api"))
    try:
        yield make_url(db).set(username=name, password=password).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE {name}"))
        admin.dispose()


def refused(engine: sa.Engine, sql: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    except sa.exc.ProgrammingError as err:
        assert "permission denied" in str(err.orig)
        return True
    return False


def test_role_cannot_write_what_the_worker_writes(db, engine, api_url):
    seed_accounts(engine, {"acct-a": 91.0})
    seed_alert(engine, "al-1")
    api = sa.create_engine(api_url)
    try:
        with api.connect() as conn:  # reads are fine
            assert conn.execute(sa.text("SELECT risk FROM account_risk")).scalar() == 91.0
            assert conn.execute(sa.text("SELECT count(*) FROM billing_account_risk")).scalar() == 1
        for sql in (
            "INSERT INTO account_risk (account_id, risk, severity, reasons, seq, event_ts) "
            "VALUES ('x', 1, 'low', '[]', 1, now())",
            "UPDATE account_risk SET risk = 0",
            "DELETE FROM account_risk",
            "INSERT INTO risk_history (account_id, seq, risk, severity, reasons, event_ts) "
            "VALUES ('x', 1, 1, 'low', '[]', now())",
            "UPDATE alerts SET risk = 0",                         # only triage columns
            "DELETE FROM alerts",
            "INSERT INTO decisions (decision_id, scope_type, scope_value, account_id, action, "
            "reason, risk, risk_seq, created_at, expires_at, change_seq) VALUES ('d', 'account', "
            "'x', 'x', 'block', 'r', 1, 1, now(), now(), 1)",
            "UPDATE decisions SET expires_at = now()",
            "INSERT INTO api_tokens (token_id, name, token_hash, scopes) "
            "VALUES ('0123456789abcdef', 'me', 'h', '[\"admin\"]')",
            "UPDATE api_tokens SET scopes = '[\"admin\"]'",
        ):
            assert refused(api, sql), sql
        with api.begin() as conn:  # the triage columns it may change
            conn.execute(sa.text("UPDATE alerts SET status = 'acknowledged' "
                                 "WHERE alert_id = 'al-1'"))
    finally:
        api.dispose()


def test_the_api_works_on_the_role(db, engine, api_url, tokens, clock):
    seed_accounts(engine, {"acct-a": 91.0})
    seed_alert(engine, "al-1")
    store = DecisionStore(db)  # the decider writes with the main URL
    u = RiskUpdate(account_id="acct-a", seq=25, risk=99.0, severity="critical",
                   reasons=[Reason("logprob_harvesting", "t", 0.9)], event_ts=1.8e9,
                   recent_api_keys=["k-1"])
    store.apply([(u, plan(u))], clock())
    store.close()
    with TestClient(create_app(api_url, clock=clock)) as c:
        secops = bearer(tokens["secops"])
        assert c.get("/v1/accounts/acct-a/risk", headers=secops).json()["risk"] == 91.0
        assert c.post("/v1/alerts/al-1/ack", headers=secops).status_code == 200
        r = c.post("/v1/alerts/al-1/label", json={"label": "true_positive", "note": "n"},
                   headers=secops)
        assert r.status_code == 200, r.text
        bouncer = bearer(tokens["bouncer"])
        body = c.get("/v1/decisions/stream", params={"startup": "true"}, headers=bouncer).json()
        assert {d["type"] for d in body["new"]} == {"block"}
        r = c.put("/v1/allowlist/acct-a", headers=bearer(tokens["exceptions"]),
                  json={"reason": "r", "expires_at": (clock() + timedelta(days=5)).isoformat()})
        assert r.status_code == 200, r.text  # also deletes the account's decisions
        body = c.get("/v1/decisions/stream", headers=bouncer).json()
        assert len(body["deleted"]) == 2
        assert c.delete("/v1/allowlist/acct-a", headers=bearer(tokens["exceptions"])
                        ).status_code == 204


def test_migration_0005_downgrades_and_upgrades_again(db, engine, tmp_path):
    from distillguard.sinks.migrate import downgrade, upgrade

    for url in (db, f"sqlite:///{tmp_path / 'm.sqlite'}"):
        upgrade(url)
        downgrade(url, "0003")
        e = sa.create_engine(url)
        try:
            assert "shadow" not in {c["name"] for c in sa.inspect(e).get_columns("decisions")}
        finally:
            e.dispose()
        upgrade(url)  # the role exists already on PostgreSQL: created once, granted again
    with engine.connect() as conn:
        granted = conn.execute(sa.text(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'distillguard_api' AND table_name = 'account_risk'")).scalars().all()
    assert granted == ["SELECT"]
