"""End to end on the real broker and PostgreSQL: a known mix of events in, exact counts out."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer

from tests.helpers import BASE_TS, chat_events, event, harvester_events
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

BENIGN = [f"e2e-benign-{i}" for i in range(5)]
ATTACKER = "e2e-harvester"
FUTURE_MS = int((time.time() + 3 * 86400) * 1000)
MALFORMED = {
    "invalid_json": b"{not json",
    "not_an_object": b"[1, 2]",
    "missing_field": b'{"event_id": "x"}',
    "wrong_type": b'{"event_id": "w", "timestamp": 1793491200000, "account_id": 42}',
    "out_of_range": b'{"event_id": "o", "timestamp": 1793491200000, "account_id": "b", '
                    b'"input_tokens": -5}',
    "bad_timestamp": b'{"event_id": "a", "timestamp": "yesterday", "account_id": "b"}',
    "future_timestamp": json.dumps({"event_id": "f", "timestamp": FUTURE_MS,
                                    "account_id": "b"}).encode(),
    "too_large": json.dumps(event("e2e-big", prompt={"text": "x" * (1024 * 1024 + 10)})).encode(),
}


def producer(broker: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5,
                         max_request_size=4 * 1024 * 1024)


def sql(url: str, query: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(sa.text(query)).all()
    finally:
        engine.dispose()


def wait_sql(url: str, query: str, predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    rows = None
    while time.monotonic() < deadline:
        try:
            rows = sql(url, query)
            if predicate(rows):
                return rows
        except sa.exc.ProgrammingError:
            pass  # the worker has not migrated the schema yet
        time.sleep(0.5)
    raise TimeoutError(f"{query}: last rows {rows}")


def test_known_mix_is_scored_exactly_once(kafka_broker, postgres_url, tmp_path):
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path)
    worker.start()
    try:
        valid = [e for a in BENIGN for e in chat_events(a, 60, start_ms=BASE_TS)]
        valid += harvester_events(ATTACKER, 300, start_ms=BASE_TS)
        valid.sort(key=lambda e: e["timestamp"])
        duplicates = valid[100:140]
        p = producer(kafka_broker)
        for i, e in enumerate(valid):
            key = None if i % 7 == 0 else e["account_id"].encode()  # some producers send no key
            p.send(worker.input_topic, key=key, value=json.dumps(e).encode())
        for e in duplicates:  # a producer retry / replay of already-seen events
            p.send(worker.input_topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
        for payload in MALFORMED.values():
            p.send(worker.input_topic, value=payload)
        p.flush()
        p.close()
        total = len(valid) + len(duplicates) + len(MALFORMED)

        m = worker.wait_for(
            lambda m: m["distillguard_events_consumed_total"] >= total
            and m["distillguard_events_scored_total"] + m["distillguard_events_duplicate_total"]
            >= len(valid) + len(duplicates), what="every event processed")
        time.sleep(3)  # anything extra (a double count) would show up now
        m = worker.metrics()
        assert m["distillguard_events_consumed_total"] == total
        assert m["distillguard_events_scored_total"] == len(valid)
        assert m["distillguard_events_duplicate_total"] == len(duplicates)
        for reason in MALFORMED:
            assert m[f"distillguard_events_dead_lettered_total{{reason={reason}}}"] == 1, reason

        # every bad event is in the dead-letter topic with its reason and original bytes
        consumer = KafkaConsumer(f"{worker.input_topic}.dlq", bootstrap_servers=kafka_broker,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000,
                                 fetch_max_bytes=8 * 1024 * 1024,
                                 max_partition_fetch_bytes=8 * 1024 * 1024)
        dead = {dict(msg.headers)["dlq.reason"].decode(): msg for msg in consumer}
        consumer.close()
        assert set(dead) == set(MALFORMED)
        for reason, payload in MALFORMED.items():
            headers = dict(dead[reason].headers)
            assert dead[reason].value == payload
            assert headers["dlq.source.topic"].decode() == worker.input_topic
            assert int(headers["dlq.source.offset"]) >= 0

        # rows in PostgreSQL for every account, alerts for the attacker only
        accounts = set(BENIGN) | {ATTACKER}
        rows = wait_sql(postgres_url, "SELECT account_id, risk, severity FROM account_risk",
                        lambda r: {x.account_id for x in r} == accounts)
        risk = {r.account_id: r.risk for r in rows}
        alert_rows = wait_sql(postgres_url, "SELECT account_id, severity FROM alerts",
                              lambda r: len(r) >= 1)
        assert {a.account_id for a in alert_rows} == {ATTACKER}
        assert risk[ATTACKER] >= 80 and max(risk[b] for b in BENIGN) < 50
        m = worker.metrics()
        for severity in ("high", "critical"):
            in_db = sum(1 for a in alert_rows if a.severity == severity)
            assert m[f"distillguard_alerts_total{{severity={severity}}}"] == in_db
        assert m["distillguard_accounts_tracked"] == len(accounts)
        assert m["distillguard_sink_rows_written_total{sink=store}"] > 0
        lag = [v for k, v in m.items() if k.startswith("distillguard_consumer_lag_messages")]
        assert lag and max(lag) == 0
    finally:
        worker.stop()
