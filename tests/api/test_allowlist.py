"""Allowlist endpoints: their own scope, validation, the maximum duration, listing, expiry,
deletion."""

from datetime import timedelta

import pytest
from distillguard.stream.api import create_app
from fastapi.testclient import TestClient

from tests.api.conftest import T0, bearer

pytestmark = pytest.mark.postgres


def put(client, token, account, **body):
    return client.put(f"/v1/allowlist/{account}", json=body, headers=bearer(token))


def test_put_get_delete(client, tokens, clock):
    token = tokens["exceptions"]
    until = (T0 + timedelta(days=7)).isoformat()
    assert put(client, token, "acct-a", reason="red team", expires_at=until).status_code == 200
    r = put(client, token, "acct-a", reason="red team, extended",
            expires_at=(T0 + timedelta(days=14)).isoformat())
    assert r.status_code == 200 and r.json()["reason"] == "red team, extended"
    # 13:00+01:00 is exactly now (12:00Z): not in the future
    assert put(client, token, "acct-b", reason="partner",
               expires_at="2026-12-01T13:00:00+01:00").status_code == 422
    assert put(client, token, "acct-b", reason="partner",
               expires_at="2026-12-02T13:00:00+01:00").status_code == 200
    listed = client.get("/v1/allowlist", headers=bearer(token)).json()
    assert [e["account_id"] for e in listed["items"]] == ["acct-a", "acct-b"]
    clock.advance(days=8)
    listed = client.get("/v1/allowlist", params={"include_expired": "true"},
                        headers=bearer(token)).json()["items"]
    assert {e["account_id"]: e["active"] for e in listed} == {"acct-a": True, "acct-b": False}
    assert client.delete("/v1/allowlist/acct-a", headers=bearer(token)).status_code == 204
    assert client.delete("/v1/allowlist/acct-a", headers=bearer(token)).status_code == 404
    assert client.get("/v1/allowlist", headers=bearer(token)).json()["items"] == []


@pytest.mark.parametrize("body", [
    {"reason": "x", "expires_at": "2026-11-30T00:00:00Z"},          # past
    {"reason": "x", "expires_at": "2028-01-01T00:00:00Z"},          # > 366 days
    {"reason": "x", "expires_at": "2026-12-24T00:00:00"},           # no offset
    {"reason": "x", "expires_at": "next week"},
    {"reason": "", "expires_at": "2026-12-24T00:00:00Z"},
    {"reason": "x" * 501, "expires_at": "2026-12-24T00:00:00Z"},
    {"reason": "x", "expires_at": "2026-12-24T00:00:00Z", "by": "me"},
    {"expires_at": "2026-12-24T00:00:00Z"},
    {"reason": "x", "expires_at": "9999-12-31T23:59:59-23:59"},
])
def test_bad_entries_are_422(client, tokens, body):
    r = client.put("/v1/allowlist/acct-a", json=body, headers=bearer(tokens["exceptions"]))
    assert r.status_code == 422, r.text


def test_pages(client, tokens):
    token = tokens["exceptions"]
    names = [f"acct-{i:02d}" for i in range(23)]
    for name in reversed(names):
        put(client, token, name, reason="r", expires_at="2026-12-24T00:00:00Z")
    seen, cursor = [], None
    while True:
        body = client.get("/v1/allowlist", params={"limit": 5} | ({"cursor": cursor} if cursor
                                                                   else {}),
                          headers=bearer(token)).json()
        seen += [e["account_id"] for e in body["items"]]
        if not (cursor := body["next_cursor"]):
            break
    assert seen == names


def test_changing_the_list_needs_the_allowlist_scope(client, tokens):
    body = {"reason": "partner", "expires_at": "2026-12-24T00:00:00Z"}
    r = put(client, tokens["secops"], "acct-a", **body)
    assert r.status_code == 403 and r.json()["detail"] == "token lacks scope allowlist"
    assert put(client, tokens["exceptions"], "acct-a", **body).status_code == 200
    assert put(client, tokens["admin"], "acct-b", **body).status_code == 200
    # triage may read the list (context for alerts), not delete from it
    listed = client.get("/v1/allowlist", headers=bearer(tokens["secops"]))
    assert [e["account_id"] for e in listed.json()["items"]] == ["acct-a", "acct-b"]
    assert client.delete("/v1/allowlist/acct-a", headers=bearer(tokens["secops"])
                         ).status_code == 403
    assert client.get("/v1/allowlist", headers=bearer(tokens["billing"])).status_code == 403
    assert client.get("/v1/accounts", headers=bearer(tokens["exceptions"])).status_code == 200


def test_maximum_duration_comes_from_settings(db, tokens, clock):
    token = tokens["exceptions"]
    at_90 = (T0 + timedelta(days=90)).isoformat()
    past_90 = (T0 + timedelta(days=90, seconds=1)).isoformat()
    with TestClient(create_app(db, clock=clock)) as c:  # default: 90 days
        assert put(c, token, "acct-a", reason="r", expires_at=at_90).status_code == 200
        r = put(c, token, "acct-a", reason="r", expires_at=past_90)
        assert r.status_code == 422
        assert "at most 90 days" in r.json()["detail"]
        assert "DISTILLGUARD_ALLOWLIST_MAX_DAYS" in r.json()["detail"]
    with TestClient(create_app(db, clock=clock, allowlist_max_days=7)) as c:
        assert put(c, token, "acct-b", reason="r",
                   expires_at=(T0 + timedelta(days=8)).isoformat()).status_code == 422
        assert put(c, token, "acct-b", reason="r",
                   expires_at=(T0 + timedelta(days=6)).isoformat()).status_code == 200
