"""The consumer-lag gauge: true backlog per partition this worker owns.

Lag = log end offset, asked from the broker on every measurement by a client of our own (Faust's
cached `highwater` goes stale while it pauses a partition whose buffer is full, so a saturated
worker read too little or 0; asking through Faust's consumer queues behind its fetches, >1 s
on a saturated worker), minus the next offset the agents will process (the offset-gap detector's
positions; before the first record of a partition, its committed offset as the consumer last
knew it, else, for the `ask_position` topics (the inputs), the log start offset: the consumer's
own position runs ahead with its prefetching, and asking it queues behind its fetches).
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from distillguard.sinks.metrics import Metrics
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import aiokafka_kwargs
from distillguard.stream.offset_gaps import OffsetGapDetector


class EndOffsets:
    """Log end offsets, from a consumer of our own (no group, no fetching)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None

    async def __call__(self, tps) -> dict:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.broker,
                                             enable_auto_commit=False, group_id=None,
                                             **aiokafka_kwargs(self.settings))
            await self.consumer.start()
        ends = await self.consumer.end_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def beginnings(self, tps) -> dict:
        """Log start offsets (the position of a partition nobody committed yet)."""
        starts = await self.consumer.beginning_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): offset for tp, offset in starts.items()}

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


async def measure_lag(consumer, end_offsets, gaps: OffsetGapDetector, metrics: Metrics,
                      topics: tuple[str, ...], ask_position: tuple[str, ...] = ()) -> dict:
    """`consumer`: Faust's (assignment, committed offsets); `end_offsets`: an `EndOffsets`."""
    tps = [tp for tp in consumer.assignment() if tp.topic in topics]
    ends = await end_offsets(tps) if tps else {}
    lags = {}
    unknown = []
    for tp in tps:
        position = gaps.expected.get(tp)
        if position is None:
            position = consumer._committed_offset.get(tp)
        if position is None:
            if tp.topic in ask_position:
                unknown.append(tp)
            continue
        lags[tp] = max(0, (ends.get((tp.topic, tp.partition)) or 0) - position)
    if unknown:  # nothing processed or committed yet: the whole log is the backlog
        starts = await end_offsets.beginnings(unknown)
        for tp in unknown:
            key = (tp.topic, tp.partition)
            lags[tp] = max(0, (ends.get(key) or 0) - (starts.get(key) or 0))
    metrics.consumer_lag.clear()  # partitions moved to another worker stop reporting here
    for tp, lag in lags.items():
        metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
    return lags
