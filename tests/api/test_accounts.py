"""Account risk: one account, and keyset pagination that neither repeats nor skips."""

import pytest

from tests.api.conftest import bearer, seed_accounts, seed_alert

pytestmark = pytest.mark.postgres


def test_account_risk_fields_and_404(client, engine, tokens):
    seed_accounts(engine, {"acct-a": 91.5})
    r = client.get("/v1/accounts/acct-a/risk", headers=bearer(tokens["billing"]))
    assert r.status_code == 200
    body = r.json()
    assert body["risk"] == 91.5 and body["band"] == "high"
    assert "cluster" in body and body["cluster"] is None
    assert body["reasons"][0]["code"] == "logprob_harvesting"
    assert body["updated_at"].startswith("2026-12-01T12:00:00")
    assert client.get("/v1/accounts/nobody/risk",
                      headers=bearer(tokens["billing"])).status_code == 404


def test_account_ids_may_contain_slashes(client, engine, tokens):
    seed_accounts(engine, {"org-1/team-2": 70.0})
    r = client.get("/v1/accounts/org-1/team-2/risk", headers=bearer(tokens["billing"]))
    assert r.status_code == 200 and r.json()["account_id"] == "org-1/team-2"


@pytest.mark.parametrize("account_id", ["x" * 129, "bad%00id", "tab%09id"])
def test_bad_account_ids_are_422(client, tokens, account_id):
    r = client.get(f"/v1/accounts/{account_id}/risk", headers=bearer(tokens["billing"]))
    assert r.status_code == 422


def test_pages_cover_every_account_once_in_order(client, engine, tokens):
    # many ties in risk, so the account_id tie-breaker matters
    risks = {f"acct-{i:03d}": float([10, 55.5, 80, 80, 99.9][i % 5]) for i in range(137)}
    seed_accounts(engine, risks)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10, "min_risk": 50} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/accounts", params=params, headers=bearer(tokens["billing"])).json()
        seen += [(a["risk"], a["account_id"]) for a in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = sorted(((r, a) for a, r in risks.items() if r >= 50), key=lambda x: (-x[0], x[1]))
    assert seen == expected
    assert len(seen) == len(set(seen)) and pages == -(-len(expected) // 10)


def test_rows_added_between_pages_do_not_shift_the_cursor(client, engine, tokens):
    seed_accounts(engine, {f"a{i}": 60.0 + i for i in range(6)})
    first = client.get("/v1/accounts", params={"limit": 3},
                       headers=bearer(tokens["billing"])).json()
    seed_accounts(engine, {"zz-top": 99.0})  # lands before the cursor: not on later pages
    rest = client.get("/v1/accounts", params={"limit": 10, "cursor": first["next_cursor"]},
                      headers=bearer(tokens["billing"])).json()
    assert [a["account_id"] for a in first["items"] + rest["items"]] == \
        ["a5", "a4", "a3", "a2", "a1", "a0"]


@pytest.mark.parametrize("params", [
    {"cursor": "not-base64!"}, {"cursor": "eyJrIjoiYWNjb3VudHMifQ"},  # {"k":"accounts"}
    {"cursor": "W10"},  # []
])
def test_bad_cursors_are_400(client, tokens, params):
    r = client.get("/v1/accounts", params=params, headers=bearer(tokens["billing"]))
    assert r.status_code == 400 and "cursor" in r.json()["detail"]


def test_cursor_of_another_listing_is_400(client, engine, tokens):
    for i in range(3):
        seed_alert(engine, f"al-{i}")
    alerts = client.get("/v1/alerts", params={"limit": 1}, headers=bearer(tokens["admin"])).json()
    r = client.get("/v1/accounts", params={"cursor": alerts["next_cursor"]},
                   headers=bearer(tokens["admin"]))
    assert r.status_code == 400


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"min_risk": -1},
                                    {"min_risk": 101}, {"min_risk": "nan"}, {"limit": "x"}])
def test_out_of_range_parameters_are_422(client, tokens, params):
    r = client.get("/v1/accounts", params=params, headers=bearer(tokens["billing"]))
    assert r.status_code == 422
