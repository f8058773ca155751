"""The consumer-lag gauge tells the true backlog while the worker is saturated.

A backlog is pre-loaded; while the worker works through it, each scrape of
distillguard_consumer_lag_messages (summed over partitions) is compared with the backlog read
from the broker at the same moment: log end offsets minus the group's committed offsets. The
gauge counts from the processed position, which is ahead of the committed one by at most a
batch and a commit interval (both made short here), so the two agree within 5%. (Faust's cached
highwater, which the gauge used to read, went stale while a full partition was paused: the
gauge then read a small fraction of the backlog, or 0.)"""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.helpers import BASE_TS, chat_events
from tests.integration.test_kafka_e2e import producer
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LAG = "distillguard_consumer_lag_messages"


def backlog(broker: str, worker: WorkerProcess) -> int:
    consumer = KafkaConsumer(bootstrap_servers=broker)
    try:
        tps = [TopicPartition(worker.input_topic, p) for p in range(4)]
        end = sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()
    return end - worker.committed()


def test_lag_gauge_matches_the_backlog_while_saturated(kafka_broker, postgres_url, tmp_path):
    # A scrape shows the gauge as last measured (every lag_interval_s, when the loop gets to it):
    # against a backlog this large the drain in that time stays well inside 5%.
    events = [e for i in range(40) for e in chat_events(f"lag-{i}", 3000, start_ms=BASE_TS)]
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path, score_every="1",
                           lag_interval_s="0.2", commit_interval_s="0.2", batch_max="300",
                           batch_within_s="0.05", sink_enabled="false")
    p = producer(kafka_broker)
    for e in events:
        p.send(worker.input_topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
    p.flush()
    p.close()
    worker.start()
    try:
        worker.wait_for(lambda m: m.get("distillguard_events_scored_total", 0) > 0
                        and worker.committed() > 0
                        and sum(v for k, v in m.items() if k.startswith(LAG)) > 0,
                        what="the worker draining the backlog, its lag measured once")
        compared = []
        while len(compared) < 5:
            gauge = sum(v for k, v in worker.metrics().items() if k.startswith(LAG))
            truth = backlog(kafka_broker, worker)
            if truth < 30_000:
                break  # nearly drained: no longer saturated
            compared.append((gauge, truth))
            time.sleep(0.5)
        assert len(compared) >= 3, f"drained before enough samples: {compared}"
        for gauge, truth in compared:
            assert abs(gauge - truth) <= 0.05 * truth, compared
    finally:
        worker.stop()
