"""The checkpointed batch loop every keyed stage runs, and the per-account stage's shared parts.

A stage is one task over one `BatchSink` (its topics' records in fetched chunks): it takes a
batch without acking it, handles each record with its topic's handler (sending the outputs that
are ready every few hundred records), publishes the rest of what the batch produced, commits
(stream/agents/checkpoint.py: flush state, await every send) and only then acks the batch. One
task per stage, so a batch's changes are flushed by the batch that made them, before its records
are acked.

The per-account stage (profiles, seen event ids, one engine) reads four kinds of topics: the
input, the re-keyed events, analyst labels and group verdicts. What it produces besides risk updates,
alerts and dead letters goes to the other stages: each scored account's (link key, summary)
pairs to the group stage, and what the batch learned (one `LearnDelta`) to the learner.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from aiokafka import ConsumerRecord
from distillguard.models.engine import Engine
from distillguard.models.learned import LearnDelta, Learned
from distillguard.models.outcomes import Alert
from distillguard.models.profile import AccountProfile
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.agents.checkpoint import Checkpoint
from distillguard.stream.agents.rekey import Partitioner
from distillguard.stream.batches.sink import BatchSink
from distillguard.stream.keyed_store import KeyedStore
from distillguard.stream.learned_table import LearnedTable
from distillguard.stream.offset_gaps import OffsetGapDetector
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.topics import TopicNames

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


Handler = Callable[[ConsumerRecord], Awaitable[None] | None]


@dataclass(kw_only=True)
class BatchStage:
    checkpoint: Checkpoint
    metrics: Metrics
    gaps: OffsetGapDetector
    batch_max: int = 2000
    batch_within_s: float = 0.05
    name: str = "stage"  # its agent's name, for metrics
    send_every: int = 256  # records handled between two `send_ready` calls

    async def prepare(self) -> None:
        """Called before each batch is handled."""

    async def send_ready(self) -> None:
        """Queue outputs that need not wait for the end of the batch; called every
        `send_every` records. Their deliveries are awaited by the commit all the same."""

    async def publish(self) -> None:
        """Queue what the batch produced (checkpoint.send); called before the commit."""

    async def run_batches(self, sink: BatchSink, handlers: dict[str, Handler]) -> None:
        """The stage's loop: take a batch of its topics' records, handle each record (by its
        topic's handler), publish, flush state and await every send, then ack the batch."""
        gaps, metrics = self.gaps, self.metrics
        seconds = {phase: metrics.stage_seconds.labels(self.name, phase)
                   for phase in ("waiting", "handling", "committing")}
        waited = time.perf_counter()
        async for batch in sink.batches(self.batch_max, within=self.batch_within_s):
            started = time.perf_counter()
            seconds["waiting"].inc(started - waited)
            await self.prepare()
            n = 0
            for chunk in batch:
                gaps.check(chunk.tp, chunk.first, chunk.last)
                handle = handlers[chunk.tp.topic]
                records = chunk.records
                for start in range(0, len(records), self.send_every):
                    for record in records[start:start + self.send_every]:
                        result = handle(record)
                        if result is not None:
                            await result
                    await self.send_ready()
                n += len(records)
            await self.publish()
            handled = time.perf_counter()
            await self.checkpoint.commit()
            sink.ack(batch)
            waited = time.perf_counter()
            seconds["handling"].inc(handled - started)
            seconds["committing"].inc(waited - handled)
            metrics.latency.observe((waited - started) / n)


@dataclass(kw_only=True)
class AccountStage(BatchStage):
    engine: Engine
    profiles: KeyedStore[AccountProfile]
    pipeline: Pipeline
    outputs: ListSink
    dead_letters: ListSink
    partition_of: Partitioner
    names: TopicNames
    formats: dict = field(default_factory=dict)  # input topic -> declared Format
    learned_table: LearnedTable | None = None   # the learned state every worker reads
    learned_ready: bool = False

    def use_learned(self, learned: Learned) -> None:
        """A newer learned state arrived (every worker gets the same)."""
        self.engine.learned = learned
        if self.learned_table is not None:
            self.metrics.learned_offset.set(self.learned_table.offset)
        self.metrics.learned_events.set(learned.norms.learned.get("*", 0))

    async def prepare(self) -> None:
        """Before the first batch: wait for the newest learned state, so a restarted worker
        scores against what was learned, not against an empty state."""
        if not self.learned_ready and self.learned_table is not None:
            current = await self.learned_table.latest()
            if current is not None:
                self.use_learned(current)
        self.learned_ready = True

    async def send_ready(self) -> None:
        """Dead letters, risk updates and alerts as they come, not at the end of the batch: a
        batch of thousands of events would otherwise hold its first rows back until its last
        event is scored. Offsets still wait for the commit, so delivery stays at-least-once."""
        send, names = self.checkpoint.send, self.names
        for rec in self.dead_letters.items:
            headers = [("dlq.reason", rec.reason.encode()), ("dlq.error", rec.error.encode()[:1024])]
            headers += [(f"dlq.source.{k}", str(v).encode()) for k, v in rec.source.items()]
            await send(names.dead_letters, None, rec.original, headers=headers)
        for out in self.outputs.items:
            topic = names.alerts if isinstance(out, Alert) else names.risk
            await send(topic, out.account_id.encode(), _json.encode(out))
        self.dead_letters.items.clear()
        self.outputs.items.clear()

    async def publish(self) -> None:
        """Rescore accounts whose group verdicts changed, then queue what the batch produced
        and `send_ready` has not sent: the rescores' outputs, links to the group stage, the
        learning delta."""
        engine = self.engine
        for outcome in engine.rescore():
            self.pipeline.record(outcome)
        await self.send_ready()
        send, names = self.checkpoint.send, self.names
        links, engine.links = engine.links, []
        for link_key, summary in links:
            key = link_key.encode()
            await send(names.group_links, key, _msgpack.encode((link_key, summary)),
                       self.partition_of(key))
        delta = engine.learn
        if isinstance(delta, LearnDelta) and delta:
            engine.learn = LearnDelta()
            await send(names.learn, None, _msgpack.encode(delta), 0)
