"""Alert triage: the lifecycle's allowed and refused transitions, labels, listing."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from distillguard.sinks.schema import alert_labels

from tests.api.conftest import T0, bearer, seed_alert

pytestmark = pytest.mark.postgres


def post(client, token, alert_id, action, body=None):
    return client.post(f"/v1/alerts/{alert_id}/{action}", json=body, headers=bearer(token))


def test_open_ack_resolve(client, engine, tokens, clock):
    seed_alert(engine, "al-1")
    token = tokens["secops"]
    r = post(client, token, "al-1", "ack")
    assert r.status_code == 200
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_at"]
    assert post(client, token, "al-1", "ack").status_code == 409
    clock.advance(minutes=5)
    r = post(client, token, "al-1", "resolve")
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["resolved_at"].startswith("2026-12-01T12:05")
    for action in ("ack", "resolve"):
        r = post(client, token, "al-1", action)
        assert r.status_code == 409 and "resolved" in r.json()["detail"]


def test_resolve_straight_from_open(client, engine, tokens):
    seed_alert(engine, "al-2")
    assert post(client, tokens["secops"], "al-2", "resolve").json()["status"] == "resolved"


def test_false_positive_closes_and_is_final(client, engine, tokens):
    seed_alert(engine, "al-3")
    token = tokens["secops"]
    post(client, token, "al-3", "ack")
    r = post(client, token, "al-3", "label", {"label": "false_positive", "note": "QA team"})
    assert r.status_code == 200
    assert r.json()["status"] == "false_positive" and r.json()["label"] == "false_positive"
    assert r.json()["resolved_at"]
    for action, body in (("ack", None), ("resolve", None),
                         ("label", {"label": "true_positive"}),
                         ("label", {"label": "false_positive"})):
        assert post(client, token, "al-3", action, body).status_code == 409, (action, body)


def test_true_positive_keeps_status_and_records_the_label(client, engine, tokens):
    seed_alert(engine, "al-4")
    r = post(client, tokens["secops"], "al-4", "label", {"label": "true_positive"})
    assert r.status_code == 200
    assert r.json()["status"] == "open" and r.json()["label"] == "true_positive"
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_labels)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["label"] == "true_positive" and rows[0]["labelled_by"] == "secops"
    assert rows[0]["reason_codes"] == ["logprob_harvesting", "unlike_peers"]
    assert rows[0]["published_at"] is None  # no broker configured: kept for later


def test_unknown_alert_is_404(client, tokens):
    assert post(client, tokens["secops"], "nope", "ack").status_code == 404
    assert post(client, tokens["secops"], "nope", "label",
                {"label": "true_positive"}).status_code == 404


@pytest.mark.parametrize("body", [
    {"label": "maybe"}, {}, {"label": "true_positive", "extra": 1},
    {"label": "true_positive", "note": "x" * 1001}, {"label": "true_positive", "note": "a\x00b"},
    ["true_positive"], "true_positive",
])
def test_bad_label_bodies_are_422(client, engine, tokens, body):
    seed_alert(engine, "al-5")
    assert post(client, tokens["secops"], "al-5", "label", body).status_code == 422


def test_non_json_body_is_422(client, engine, tokens):
    seed_alert(engine, "al-6")
    r = client.post("/v1/alerts/al-6/label", content=b"{not json",
                    headers={**bearer(tokens["secops"]), "Content-Type": "application/json"})
    assert r.status_code == 422


def test_list_filters_and_pages_newest_first(client, engine, tokens):
    for i in range(25):
        seed_alert(engine, f"al-{i:02d}", account_id=f"acct-{i % 3}",
                   created_at=T0 + timedelta(minutes=i // 2))  # pairs share a timestamp
    post(client, tokens["secops"], "al-07", "ack")
    seen, cursor = [], None
    while True:
        params = {"limit": 4, "status": "open"} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/alerts", params=params, headers=bearer(tokens["secops"])).json()
        seen += [a["alert_id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"al-{i:02d}" for i in reversed(range(25)) if i != 7]
    acked = client.get("/v1/alerts", params={"status": "acknowledged"},
                       headers=bearer(tokens["secops"])).json()["items"]
    assert [a["alert_id"] for a in acked] == ["al-07"]
    one = client.get("/v1/alerts", params={"account_id": "acct-1"},
                     headers=bearer(tokens["secops"])).json()["items"]
    assert {a["account_id"] for a in one} == {"acct-1"} and len(one) == 8
    assert client.get("/v1/alerts", params={"status": "closed"},
                      headers=bearer(tokens["secops"])).status_code == 422
