"""What every agent of the per-account stage shares: one engine over one profile store, one
checkpoint, and a lock so that two agents never interleave their batches (a batch's changes
must be flushed by the batch that made them, before its events are acked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from distillguard.models.engine import Engine
from distillguard.models.outcomes import Alert
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.agents.checkpoint import Checkpoint
from distillguard.stream.agents.rekey import Partitioner
from distillguard.stream.offset_gaps import OffsetGapDetector
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.profile_table import ProfileStore
from distillguard.stream.topics import TopicNames

_json = msgspec.json.Encoder()


@dataclass
class AccountStage:
    engine: Engine
    profiles: ProfileStore
    pipeline: Pipeline
    outputs: ListSink
    dead_letters: ListSink
    checkpoint: Checkpoint
    partition_of: Partitioner
    gaps: OffsetGapDetector
    names: TopicNames
    metrics: Metrics
    formats: dict = field(default_factory=dict)  # input topic -> declared Format
    batch_max: int = 2000
    batch_within_s: float = 0.05
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def publish(self) -> None:
        """Queue what the batch produced: dead letters, risk updates, alerts."""
        send = self.checkpoint.send
        for rec in self.dead_letters.items:
            headers = [("dlq.reason", rec.reason.encode()), ("dlq.error", rec.error.encode()[:1024])]
            headers += [(f"dlq.source.{k}", str(v).encode()) for k, v in rec.source.items()]
            await send(self.names.dead_letters, None, rec.original, headers=headers)
        for out in self.outputs.items:
            topic = self.names.alerts if isinstance(out, Alert) else self.names.risk
            await send(topic, out.account_id.encode(), _json.encode(out))
        self.dead_letters.items.clear()
        self.outputs.items.clear()

    async def run_batches(self, stream, handle: Callable[[object], Awaitable[None] | None]) -> None:
        """The loop every agent of this stage runs: take a batch without acking it, handle each
        event, publish, flush state, await every send, then ack the batch."""
        events = stream.noack()
        async for batch in events.noack_take(self.batch_max, within=self.batch_within_s):
            async with self.lock:
                started = time.perf_counter()
                for event in batch:
                    result = handle(event)
                    if result is not None:
                        await result
                await self.publish()
                await self.checkpoint.commit(events, batch)
                self.metrics.latency.observe((time.perf_counter() - started) / len(batch))
