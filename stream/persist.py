"""Persist `account-risk` and `alerts` topics into the store, in batches, at-least-once.

Runs on its own aiokafka consumer (own group), not as a Faust agent: a slow or failing database
then only delays this consumer, never Faust's fetcher and so never scoring. Offsets are
committed only after a batch is written; writes are idempotent upserts, so a redelivered batch
changes nothing.

While the database is down the batch in hand is retried about once a second (sinks/retry.py,
DATABASE policy) and the consumer keeps polling with its partitions paused, so it stays in its
group however long the outage lasts and writes again within a second or so of the database's
return. The worker restarts the whole persister if it fails (stream/services.py).
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from distillguard.models.outcomes import Alert, RiskUpdate
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.retry import DATABASE, Backoff, paused_polling, retry
from distillguard.sinks.store import RiskStore
from distillguard.stream.kafka_security import aiokafka_kwargs

log = logging.getLogger(__name__)
SINK = "store"


class Persister:
    def __init__(self, broker: str, group_id: str, risk_topic: str, alerts_topic: str,
                 store: RiskStore, metrics: Metrics, batch_size: int = 500,
                 flush_s: float = 1.0, backoff: Backoff = DATABASE) -> None:
        self.broker, self.group_id = broker, group_id
        self.risk_topic, self.alerts_topic = risk_topic, alerts_topic
        self.store, self.metrics = store, metrics
        self.batch_size, self.flush_s, self.backoff = batch_size, flush_s, backoff
        self._decoders = {risk_topic: msgspec.json.Decoder(RiskUpdate),
                          alerts_topic: msgspec.json.Decoder(Alert)}
        self._assignments = _AssignmentCounter(metrics, SINK)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.broker, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", **aiokafka_kwargs())
        consumer.subscribe([self.risk_topic, self.alerts_topic], listener=self._assignments)
        await consumer.start()
        try:
            while True:
                await self.step(consumer)
        finally:
            await consumer.stop()

    async def step(self, consumer: AIOKafkaConsumer) -> int:
        """One batch: fetch, write (retrying, consumer kept alive), commit. Rows written."""
        fetched = await consumer.getmany(timeout_ms=int(self.flush_s * 1000),
                                         max_records=self.batch_size)
        if not fetched:
            return 0
        items = [i for msgs in fetched.values() for msg in msgs
                 if (i := self._decode(msg)) is not None]
        if items:
            await self.write(items, paused_polling(consumer))
        await self._commit(consumer, {tp: msgs[-1].offset + 1 for tp, msgs in fetched.items()})
        return len(items)

    async def write(self, items: list, wait) -> None:
        """Until written: a database outage delays rows, never drops them."""
        loop = asyncio.get_running_loop()
        retrying = self.metrics.sink_retrying.labels(sink=SINK)

        def failed(err: BaseException, failures: int) -> None:
            self.metrics.sink_failures.labels(sink=SINK).inc()
            retrying.set(1)

        try:
            await retry(lambda: loop.run_in_executor(None, self.store.write, items),
                        what=f"store write of {len(items)} rows", backoff=self.backoff,
                        wait=wait, on_failure=failed, logger=log)
        finally:
            retrying.set(0)
        self.metrics.sink_rows.labels(sink=SINK).inc(len(items))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit what was written, for the partitions still ours. A partition that moved during
        an outage is read again by its new owner: the upserts make that harmless."""
        mine = consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in mine}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as err:
            log.warning("store sink: commit failed (%s); those rows may be written again", err)

    def _decode(self, msg) -> RiskUpdate | Alert | None:
        try:
            return self._decoders[msg.topic].decode(msg.value)
        except msgspec.DecodeError as err:  # not ours: say so loudly, do not block the topic
            log.error("skipping undecodable message %s[%d]@%d: %s", msg.topic, msg.partition,
                      msg.offset, err)
            self.metrics.sink_failures.labels(sink="decode").inc()
            return None


class _AssignmentCounter(ConsumerRebalanceListener):
    """Counts partition assignments: more than one per start means the group rebalanced (an
    eviction for not polling would show here)."""

    def __init__(self, metrics: Metrics, sink: str) -> None:
        self.counter = metrics.sink_assignments.labels(sink=sink)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.counter.inc()
        log.info("store sink assigned %d partitions", len(assigned))
