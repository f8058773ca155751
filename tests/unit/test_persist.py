"""The persister while its store is down: it keeps polling its (paused) consumer, retries the
batch in hand quickly, commits only what was written and only for partitions still its own."""

from __future__ import annotations

import asyncio

import msgspec
from aiokafka import TopicPartition
from distillguard.models.outcomes import RiskUpdate
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.retry import Backoff
from distillguard.stream.persist import Persister

RISK, ALERTS = "risk", "alerts"
P0, P1 = TopicPartition(RISK, 0), TopicPartition(RISK, 1)


class Record:
    def __init__(self, tp: TopicPartition, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value = tp.topic, tp.partition, offset, value


def risk(account: str, seq: int) -> bytes:
    return msgspec.json.encode(RiskUpdate(account, seq, 10.0, "low", [], 1.0e9))


class FakeConsumer:
    def __init__(self, batch: dict) -> None:
        self.batch, self.assigned = batch, {P0, P1}
        self.paused: set = set()
        self.polls_while_paused = 0
        self.commits: list[dict] = []

    def assignment(self):
        return set(self.assigned)

    def pause(self, *tps):
        self.paused |= set(tps)

    def resume(self, *tps):
        self.paused -= set(tps)

    def seek(self, tp, offset):
        raise AssertionError("nothing new was assigned")

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None):
        await asyncio.sleep(0)
        if self.paused:
            self.polls_while_paused += 1
            if self.polls_while_paused == 3:   # a rebalance takes P1 away mid-outage
                self.assigned.discard(P1)
                self.paused.discard(P1)     # a revoked partition forgets its pause
            return {}
        batch, self.batch = self.batch, {}
        return batch

    async def commit(self, offsets):
        self.commits.append(dict(offsets))


class FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures, self.written = failures, []

    def write(self, items):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("connection refused")
        self.written.extend(items)


def test_outage_keeps_polling_retries_and_commits_only_owned_partitions():
    batch = {P0: [Record(P0, 5, risk("a", 1)), Record(P0, 6, risk("a", 2))],
             P1: [Record(P1, 9, risk("b", 1)), Record(P1, 10, b"not json")]}
    consumer, store, metrics = FakeConsumer(batch), FlakyStore(failures=5), Metrics()
    persister = Persister("unused:9092", "g", RISK, ALERTS, store, metrics,
                          backoff=Backoff(base_s=0.01, max_s=0.02))
    written = asyncio.run(persister.step(consumer))
    assert written == 3 and [(r.account_id, r.seq) for r in store.written] == \
        [("a", 1), ("a", 2), ("b", 1)]
    assert consumer.polls_while_paused >= 5        # it polled through the outage
    assert consumer.paused == set()                # and resumed afterwards
    assert consumer.commits == [{P0: 7}]           # P1 moved away: its new owner re-reads it
    value = metrics.registry.get_sample_value
    assert value("distillguard_sink_failures_total", {"sink": "store"}) == 5
    assert value("distillguard_sink_failures_total", {"sink": "decode"}) == 1
    assert value("distillguard_sink_rows_written_total", {"sink": "store"}) == 3
    assert value("distillguard_sink_retrying", {"sink": "store"}) == 0


def test_nothing_fetched_commits_nothing():
    consumer = FakeConsumer({})
    persister = Persister("unused:9092", "g", RISK, ALERTS, FlakyStore(0), Metrics())
    assert asyncio.run(persister.step(consumer)) == 0 and consumer.commits == []
