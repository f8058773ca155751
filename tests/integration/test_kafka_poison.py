"""Poison messages on the real broker: each kind of the issue ends in the DLQ topic with its
reason, the valid events around it are scored, and the worker neither crashes nor slows down.
The integer above 2^64 used to poison its account's profile (every later event of the account
crashed the agent): its account's later events must be scored like any other's.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.helpers import chat_events
from tests.integration import worker_proc
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka]

VICTIM = "poison-victim"


_handed_out: set[int] = set()


def _free_port() -> int:
    """A free port in this helper's range (DG_TEST_PORT_RANGE), for the worker's servers; never
    the same one twice (the worker binds them only later)."""
    low, high = os.environ.get("DG_TEST_PORT_RANGE", "31000-31099").split("-")
    for port in range(int(low), int(high) + 1):
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port in DG_TEST_PORT_RANGE")


def _valid(n: int = 1) -> bytes:
    return json.dumps(chat_events("poison-scratch", n)[0]).encode()


def poison() -> dict[bytes, str]:
    """Payload -> the dead-letter reason it must get."""
    good = _valid()
    huge = chat_events(VICTIM, 1)[0]
    huge["input_tokens"] = 2**64 + 7
    rng = random.Random(5)
    return {
        good + b" x": "trailing_data",                          # valid JSON, then anything
        good + _valid(): "trailing_data",                       # two objects on a line
        good[:good.index(b'"input_tokens"')] + b'"status_code": 20': "truncated",
        bytes(rng.getrandbits(8) for _ in range(300)).replace(b"{", b"").replace(b"[", b""):
            "invalid_json",                                    # random binary
        b'{"event_id": "d", "x": ' + b"[" * 100_000: "too_deep",
        json.dumps(huge).encode(): "out_of_range",              # > 2^64
        good.replace(b'"account_id": "', b'"account_id": "\xff\xfe', 1): "invalid_utf8",
        gzip.compress(good): "compressed",
        b"": "empty",                                           # an empty message
    }


def test_poison_messages_end_in_the_dlq_and_valid_events_are_scored(kafka_broker, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(worker_proc, "free_port", _free_port)  # ports in this helper's range
    worker = WorkerProcess(kafka_broker, f"sqlite:///{tmp_path / 'unused.sqlite'}", tmp_path,
                           partitions=2, sink_enabled="false")
    worker.start()
    try:
        valid = chat_events(VICTIM, 30) + chat_events("poison-bystander", 30)
        bad = poison()
        assert len(set(bad)) == len(bad)
        p = KafkaProducer(bootstrap_servers=kafka_broker, acks="all", linger_ms=5)
        for i, payload in enumerate(bad):  # poison between valid events, the victim's key
            for e in valid[i * 6:(i + 1) * 6]:
                p.send(worker.input_topic, key=e["account_id"].encode(),
                       value=json.dumps(e).encode())
            p.send(worker.input_topic, key=VICTIM.encode(), value=payload)
        for e in valid[len(bad) * 6:]:
            p.send(worker.input_topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
        p.flush()
        p.close()
        total = len(valid) + len(bad)

        m = worker.wait_for(lambda m: m["distillguard_events_consumed_total"] >= total
                            and m["distillguard_events_scored_total"] >= len(valid),
                            timeout_s=90, what="every message processed")
        assert m["distillguard_events_consumed_total"] == total
        assert m["distillguard_events_scored_total"] == len(valid)
        dead_total = sum(v for k, v in m.items()
                         if k.startswith("distillguard_events_dead_lettered_total"))
        assert dead_total == len(bad)
        assert m["distillguard_events_dead_lettered_total{reason=scoring_error}"] == 0
        assert worker.starts == 1 and worker.proc.poll() is None  # never crashed or restarted

        consumer = KafkaConsumer(f"{worker.input_topic}.dlq", bootstrap_servers=kafka_broker,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        dead = {msg.value or b"": msg for msg in consumer}
        consumer.close()
        assert set(dead) == set(bad)
        for payload, reason in bad.items():
            headers = dict(dead[payload].headers)
            assert headers["dlq.reason"].decode() == reason, (payload[:80], headers)
            assert headers["dlq.error"]
            assert headers["dlq.source.topic"].decode() == worker.input_topic
        assert "Traceback" not in worker.log_tail(200)
    finally:
        worker.stop()
