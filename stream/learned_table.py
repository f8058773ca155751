"""The learned state as a global table: one compacted, one-partition topic that every worker
reads in full (Kafka Streams' GlobalKTable, without Faust's GlobalTable machinery).

The learner (stream/agents/learn_population.py) writes the population's learned state there
after folding in the workers' deltas; every worker follows the topic and swaps the snapshot
into its engine, so all workers score against the same learned state, and a restarted worker
starts from the latest one instead of from zero. Records are `models.learned.Learned.encode()`
under the key b"learned"; the newest record is the state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from distillguard.models.learned import Learned
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import aiokafka_kwargs

log = logging.getLogger(__name__)
KEY = b"learned"
CATCH_UP_TIMEOUT_S = 30.0


class LearnedTable:
    def __init__(self, settings: Settings, topic: str,
                 on_update: Callable[[Learned], None]) -> None:
        self.settings, self.topic, self.on_update = settings, topic, on_update
        self.tp = TopicPartition(topic, 0)
        self.raw: bytes | None = None      # the newest record's value
        self.offset = -1                   # ...its offset
        self.current: Learned | None = None  # ...decoded (what the engine reads)
        self.position = 0                  # next offset to read
        self.consumer: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Idempotent: `follow` and `latest` may both be first."""
        async with self._starting:
            if self.consumer is None:
                self.consumer = await self._started()

    async def _started(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker, enable_auto_commit=False, group_id=None,
            max_partition_fetch_bytes=8 << 20, fetch_max_bytes=16 << 20,
            **aiokafka_kwargs(self.settings))
        await consumer.start()
        consumer.assign([self.tp])
        end = (await consumer.end_offsets([self.tp]))[self.tp]
        begin = (await consumer.beginning_offsets([self.tp]))[self.tp]
        # The newest record is the state: start one before the end (compaction keeps it).
        self.position = max(begin, end - 1)
        consumer.seek(self.tp, self.position)
        return consumer

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def follow(self) -> None:
        """Read forever, handing each newest snapshot to `on_update`."""
        await self.start()
        while True:
            batch = await self.consumer.getmany(self.tp, timeout_ms=500)
            newest = None
            for msg in batch.get(self.tp, ()):
                self.position = msg.offset + 1
                if msg.key == KEY and msg.value:
                    newest = msg
            if newest is None:
                continue
            try:
                learned = Learned.decode(newest.value)
            except Exception as err:  # a bad snapshot must not stop scoring
                log.error("learned state at offset %d does not decode (%s: %s); keeping the "
                          "previous one", newest.offset, type(err).__name__, err)
                continue
            self.raw, self.current, self.offset = newest.value, learned, newest.offset
            self.on_update(learned)

    async def latest(self) -> Learned | None:
        """The newest state as of now: waits until `follow` has read to the current end."""
        await self.start()
        end = (await self.consumer.end_offsets([self.tp]))[self.tp]
        deadline = asyncio.get_running_loop().time() + CATCH_UP_TIMEOUT_S
        while self.position < end:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.topic}: not read to offset {end} within "
                                   f"{CATCH_UP_TIMEOUT_S:g} s")
            await asyncio.sleep(0.05)
        return self.current
