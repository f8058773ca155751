"""Labels become feedback messages on Kafka; with the broker away they wait in PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import sqlalchemy as sa
from distillguard.sinks.schema import alert_labels
from distillguard.stream.api import create_app
from distillguard.stream.topics import ensure_topics
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from tests.api.conftest import bearer, seed_alert

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"feedback-test-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_broker, [name], 1)
    return name


def read(broker: str, topic: str, n: int, timeout_s: float = 20.0) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=1000)
    out, deadline = [], time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out += [(m.key.decode(), json.loads(m.value)) for m in consumer]
    consumer.close()
    return out


def published(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(alert_labels.c.label_id, alert_labels.c.published_at)
                            .order_by(alert_labels.c.label_id)).all()


def test_label_is_sent_as_feedback(db, engine, tokens, clock, kafka_broker):
    topic = f"feedback-new-{uuid.uuid4().hex[:8]}"  # not there yet: the API creates it
    seed_alert(engine, "al-1", account_id="acct-fb")
    with TestClient(create_app(db, broker=kafka_broker, feedback_topic=topic, partitions=3,
                               clock=clock)) as c:
        r = c.post("/v1/alerts/al-1/label", json={"label": "false_positive", "note": "QA"},
                   headers=bearer(tokens["secops"]))
        assert r.status_code == 200
    [(key, message)] = read(kafka_broker, topic, 1)
    assert key == "acct-fb"
    assert message == {"label_id": 1, "alert_id": "al-1", "account_id": "acct-fb",
                       "label": "false_positive",
                       "reason_codes": ["logprob_harvesting", "unlike_peers"],
                       "labelled_at": "2026-12-01T12:00:00Z"}
    assert all(p.published_at is not None for p in published(engine))
    # as many partitions as the worker's input, which reads it co-partitioned
    assert ensure_topics(kafka_broker, [topic], 1) == {topic: 3}


def test_broker_outage_keeps_the_label_and_sends_it_later(db, engine, tokens, clock,
                                                          kafka_broker, topic):
    seed_alert(engine, "al-2", account_id="acct-out")
    with TestClient(create_app(db, broker="127.0.0.1:1", feedback_topic=topic,
                               clock=clock)) as c:
        r = c.post("/v1/alerts/al-2/label", json={"label": "true_positive"},
                   headers=bearer(tokens["secops"]))
        assert r.status_code == 200  # the label is stored even though Kafka is away
        assert "distillguard_api_feedback_messages_total{result=\"failed\"}" in \
            c.get("/metrics").text
    assert [p.published_at for p in published(engine)] == [None]
    # the next API start sends what is pending
    with TestClient(create_app(db, broker=kafka_broker, feedback_topic=topic, clock=clock)):
        pass
    [(key, message)] = read(kafka_broker, topic, 1)
    assert key == "acct-out" and message["label"] == "true_positive"
    assert published(engine)[0].published_at is not None
