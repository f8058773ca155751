"""Labels: an enum (a free-form string is a 422 and never reaches a metric label), stored in
alert_labels by the API with the id the worker de-duplicates on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from distillguard.sinks.schema import alert_labels
from distillguard.stream.api.publisher import feedback_message

from tests.api.conftest import bearer, seed_alert

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("label", ["lgtm", "False_Positive", "", "true_positive ", 1, None])
def test_free_form_labels_are_422_and_stay_out_of_metrics(client, engine, tokens, label):
    seed_alert(engine, "al-1")
    r = client.post("/v1/alerts/al-1/label", json={"label": label},
                    headers=bearer(tokens["secops"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "label"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_labels)).scalar() == 0
    metrics = client.get("/metrics").text
    if isinstance(label, str) and label:
        assert label.strip() not in metrics.replace("true_positive", "").replace(
            "false_positive", "")


def test_labels_are_stored_with_ids_for_de_duplication(client, engine, tokens):
    seed_alert(engine, "al-1", account_id="acct-a")
    seed_alert(engine, "al-2", account_id="acct-b")
    secops = bearer(tokens["secops"])
    for alert_id, label in (("al-1", "true_positive"), ("al-1", "true_positive"),
                            ("al-2", "false_positive")):
        r = client.post(f"/v1/alerts/{alert_id}/label", json={"label": label}, headers=secops)
        assert r.status_code == 200, r.text
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_labels).order_by(alert_labels.c.label_id)
                            ).mappings().all()
    assert [(r["alert_id"], r["label"], r["labelled_by"]) for r in rows] == [
        ("al-1", "true_positive", "secops"), ("al-1", "true_positive", "secops"),
        ("al-2", "false_positive", "secops")]
    ids = [feedback_message(r)["label_id"] for r in rows]
    assert len(set(ids)) == 3  # each label its own id: the worker counts each once
    assert feedback_message(rows[2])["reason_codes"] == ["logprob_harvesting", "unlike_peers"]
