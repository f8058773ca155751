"""The consumer-lag gauge: true backlog per partition this worker owns.

Lag = log end offset, asked from the broker on every measurement (Faust's cached `highwater`
goes stale while it pauses a partition whose buffer is full, so a saturated worker read too
little or 0), minus the next offset the agents will process (the offset-gap detector's
positions; the committed position before the first message of a partition).
"""

from __future__ import annotations

from distillguard.sinks.metrics import Metrics
from distillguard.stream.offset_gaps import OffsetGapDetector


async def measure_lag(consumer, gaps: OffsetGapDetector, metrics: Metrics,
                      topics: tuple[str, ...]) -> dict:
    tps = [tp for tp in consumer.assignment() if tp.topic in topics]
    ends = await consumer.highwaters(*tps) if tps else {}
    lags = {}
    for tp in tps:
        position = gaps.expected.get(tp)
        if position is None:
            position = await consumer.position(tp) or 0
        lags[tp] = max(0, (ends.get(tp) or 0) - position)
    metrics.consumer_lag.clear()  # partitions moved to another worker stop reporting here
    for tp, lag in lags.items():
        metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
    return lags
