"""Persist `account-risk` and `alerts` topics into the store, in batches, at-least-once.

Runs on its own aiokafka consumer (own group), not as a Faust agent: a slow or failing database
then only delays this consumer, never Faust's fetcher and so never scoring. Offsets are
committed only after a batch is written; writes are idempotent upserts, so a redelivered batch
changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiokafka import AIOKafkaConsumer
from distillguard.models.outcomes import Alert, RiskUpdate
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.store import RiskStore
from distillguard.stream.kafka_security import aiokafka_kwargs

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


class Persister:
    def __init__(self, broker: str, group_id: str, risk_topic: str, alerts_topic: str,
                 store: RiskStore, metrics: Metrics, batch_size: int = 500,
                 flush_s: float = 1.0) -> None:
        self.broker, self.group_id = broker, group_id
        self.risk_topic, self.alerts_topic = risk_topic, alerts_topic
        self.store, self.metrics = store, metrics
        self.batch_size, self.flush_s = batch_size, flush_s
        self._decoders = {risk_topic: msgspec.json.Decoder(RiskUpdate),
                          alerts_topic: msgspec.json.Decoder(Alert)}

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.risk_topic, self.alerts_topic, bootstrap_servers=self.broker,
            group_id=self.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            **aiokafka_kwargs())
        await consumer.start()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=int(self.flush_s * 1000),
                                                 max_records=self.batch_size)
                items = [self._decode(msg) for msgs in fetched.values() for msg in msgs]
                items = [i for i in items if i is not None]
                if items:
                    await self._write_until_done(items)
                if fetched:
                    await consumer.commit()
        finally:
            await consumer.stop()

    def _decode(self, msg) -> RiskUpdate | Alert | None:
        try:
            return self._decoders[msg.topic].decode(msg.value)
        except msgspec.DecodeError as err:  # not ours: say so loudly, do not block the topic
            log.error("skipping undecodable message %s[%d]@%d: %s", msg.topic, msg.partition,
                      msg.offset, err)
            self.metrics.sink_failures.labels(sink="decode").inc()
            return None

    async def _write_until_done(self, items: list) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.5
        while True:
            try:
                await loop.run_in_executor(None, self.store.write, items)
                self.metrics.sink_rows.labels(sink="store").inc(len(items))
                return
            except Exception as err:  # a database hiccup: retry the same batch, never drop it
                self.metrics.sink_failures.labels(sink="store").inc()
                log.warning("store write of %d rows failed (%s: %s); retrying in %.1fs",
                            len(items), type(err).__name__, str(err).splitlines()[0], backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

