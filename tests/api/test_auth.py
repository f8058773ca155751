"""Tokens: hashed at rest, 401 without a valid one, 403 without the scope, scopes per role."""

import hashlib

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from distillguard.sinks.schema import api_tokens
from distillguard.stream.api.auth import revoke_token
from distillguard.stream.cli import main

from tests.api.conftest import bearer, seed_accounts, seed_alert

pytestmark = pytest.mark.postgres

# (method, path, body) of one endpoint per scope
RISK = ("GET", "/v1/accounts/acct-a/risk", None)
TRIAGE = ("POST", "/v1/alerts/al-1/ack", None)
DECISIONS = ("GET", "/v1/decisions/stream?startup=true", None)
ALLOWLIST = ("GET", "/v1/allowlist", None)


def call(client, endpoint, token=None, headers=None):
    method, path, body = endpoint
    return client.request(method, path, json=body,
                          headers=headers if headers is not None else bearer(token) if token else {})


@pytest.fixture
def seeded(engine):
    seed_accounts(engine, {"acct-a": 91.0})
    seed_alert(engine, "al-1")


def test_no_token_is_401_with_bearer_challenge(client, seeded):
    for endpoint in (RISK, TRIAGE, DECISIONS, ALLOWLIST):
        r = call(client, endpoint)
        assert r.status_code == 401, endpoint
        assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [
    "Bearer dg_0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # unknown id
    "Bearer not-a-token",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
])
def test_bad_tokens_are_401(client, seeded, tokens, header):
    r = call(client, RISK, headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_right_id_wrong_secret_is_401(client, seeded, tokens):
    token = tokens["admin"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert call(client, RISK, forged).status_code == 401
    assert call(client, RISK, token).status_code == 200


def test_scopes_per_role(client, seeded, tokens):
    expected = {  # role -> status of (risk, triage, decisions, allowlist)
        "billing": (200, 403, 403, 403),
        "secops": (200, 200, 403, 200),
        "exceptions": (200, 403, 403, 200),
        "bouncer": (403, 403, 200, 403),
        "admin": (200, 409, 200, 200),  # 409: secops already acknowledged al-1
    }
    for role, statuses in expected.items():
        got = tuple(call(client, e, tokens[role]).status_code
                    for e in (RISK, TRIAGE, DECISIONS, ALLOWLIST))
        assert got == statuses, role


def test_403_names_the_missing_scope(client, seeded, tokens):
    r = call(client, TRIAGE, tokens["billing"])
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert r.json()["detail"] == "token lacks scope triage"


def test_revoked_token_is_401(client, seeded, tokens, engine):
    assert call(client, RISK, tokens["billing"]).status_code == 200
    assert revoke_token(engine, "billing") == 1
    assert call(client, RISK, tokens["billing"]).status_code == 401


def test_tokens_are_stored_as_sha256_only(engine, tokens):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens)).mappings().all()
    assert len(rows) == len(tokens)
    stored = {r["token_hash"] for r in rows}
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in tokens.values()}
    dump = repr([dict(r) for r in rows])
    for token in tokens.values():
        assert token.split(".")[1] not in dump  # the secret part appears nowhere


def test_cli_creates_a_working_token_printed_once(db, client, engine):
    seed_accounts(engine, {"acct-a": 91.0})
    runner = CliRunner()
    result = runner.invoke(main, ["token", "create", "--name", "billing-cli", "--scope",
                                  "risk:read", "--database-url", db])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("dg_") and "\n" not in token
    assert call(client, RISK, token).status_code == 200
    assert call(client, TRIAGE, token).status_code == 403
    again = runner.invoke(main, ["token", "create", "--name", "billing-cli", "--scope",
                                 "risk:read", "--database-url", db])
    assert again.exit_code != 0 and "exists" in again.output
    listed = runner.invoke(main, ["token", "list", "--database-url", db])
    assert "billing-cli" in listed.stdout and token not in listed.stdout
    assert runner.invoke(main, ["token", "revoke", "billing-cli", "--database-url", db]
                         ).exit_code == 0
    assert call(client, RISK, token).status_code == 401


def test_metrics_count_routes_not_accounts(client, seeded, tokens):
    call(client, RISK, tokens["billing"])
    client.get("/v1/accounts/some-other-account/risk", headers=bearer(tokens["billing"]))
    text = client.get("/metrics").text
    assert 'route="/v1/accounts/{account_id}/risk"' in text
    assert "acct-a" not in text and "some-other-account" not in text
    assert 'distillguard_api_auth_failures_total' in text


def test_database_down_is_503_not_500():
    from distillguard.stream.api import create_app
    from fastapi.testclient import TestClient

    app = create_app("postgresql+psycopg2://dg:dg@127.0.0.1:1/none")
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 503
        r = c.get("/v1/accounts", headers=bearer("dg_0123456789abcdef." + "a" * 43))
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
