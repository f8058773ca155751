"""An analyst's false-positive label, sent on the feedback topic, changes later scores."""

from __future__ import annotations

import json

import pytest

from tests.helpers import BASE_TS, harvester_events
from tests.integration.test_kafka_e2e import producer, wait_sql
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ACCOUNT = "fb-account"


def send(broker: str, topic: str, events: list[dict]) -> None:
    p = producer(broker)
    for e in events:
        p.send(topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
    p.flush()
    p.close()


def test_false_positive_label_lowers_later_risk(kafka_broker, postgres_url, tmp_path):
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path, score_every="1")
    worker.start()
    try:
        first = harvester_events(ACCOUNT, 200, start_ms=BASE_TS)
        send(kafka_broker, worker.input_topic, first)
        rows = wait_sql(postgres_url, f"SELECT risk, seq FROM account_risk WHERE account_id='{ACCOUNT}'",
                        lambda r: r and r[0].seq == 200)
        assert rows[0].risk >= 80
        label = {"alert_id": "x", "account_id": ACCOUNT, "label": "false_positive",
                 "reason_codes": ["logprob_harvesting", "logit_bias_probing"],
                 "labelled_at": "2026-11-29T12:00:00Z"}
        p = producer(kafka_broker)
        p.send(worker.feedback_topic, key=ACCOUNT.encode(), value=json.dumps(label).encode())
        p.flush()
        p.close()
        worker.wait_for(lambda m: m.get("distillguard_feedback_labels_total{label=false_positive}")
                        == 1, what="label applied")
        send(kafka_broker, worker.input_topic,
             harvester_events(ACCOUNT, 100, start_ms=BASE_TS + 1_000_000))
        rows = wait_sql(postgres_url,
                        f"SELECT risk, seq, reasons FROM account_risk WHERE account_id='{ACCOUNT}'",
                        lambda r: r and r[0].seq == 300)
        assert rows[0].risk < 80
        assert "logprob_harvesting" not in json.dumps(rows[0].reasons)
    finally:
        worker.stop()
