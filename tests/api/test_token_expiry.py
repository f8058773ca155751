"""Tokens with an expiry: accepted until it, then 401 with a message that says so;
`token create --expires` takes a duration or a date and refuses the past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from distillguard.stream.api.auth import create_token
from distillguard.stream.cli import main

from tests.api.conftest import T0, bearer, seed_accounts

pytestmark = pytest.mark.postgres
RISK = "/v1/accounts/acct-a/risk"


def test_expired_token_is_401_with_a_clear_message(client, engine, clock):
    seed_accounts(engine, {"acct-a": 91.0})
    token = create_token(engine, "billing-q1", ["risk:read"],
                         expires_at=datetime.now(tz=UTC) + timedelta(days=30))
    forever = create_token(engine, "billing-forever", ["risk:read"])
    assert client.get(RISK, headers=bearer(token)).status_code == 200
    clock.now = datetime.now(tz=UTC) + timedelta(days=31)
    r = client.get(RISK, headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["detail"].startswith("token 'billing-q1' expired at 20")
    assert "distillguard token create" in r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert client.get(RISK, headers=bearer(forever)).status_code == 200
    assert 'distillguard_api_auth_failures_total{reason="expired"} 1.0' in \
        client.get("/metrics").text


def test_expiry_must_be_in_the_future(engine):
    with pytest.raises(ValueError, match="not in the future"):
        create_token(engine, "late", ["risk:read"], expires_at=T0 - timedelta(days=1))


def test_cli_expires(db, engine):
    runner = CliRunner()

    def create(name: str, expires: str):
        return runner.invoke(main, ["token", "create", "--name", name, "--scope", "risk:read",
                                    "--expires", expires, "--database-url", db])

    ok = create("in-30-days", "30d")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip().startswith("dg_") and "expires 20" in ok.stderr
    assert create("until-date", "2999-01-31").exit_code == 0
    listed = runner.invoke(main, ["token", "list", "--database-url", db]).stdout
    soon = (datetime.now(tz=UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"active until {soon}" in listed and "active until 2999-01-31 00:00Z" in listed
    for bad, message in (("2020-01-01", "is not in the future"),
                         ("next week", "neither a duration")):
        result = create("bad", bad)
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output
