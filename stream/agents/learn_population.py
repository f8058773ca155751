"""learn_population: the learner. One partition, so one worker at a time folds every worker's
learning deltas (norm histograms, peer-model samples, model first-seen times, analyst labels)
into the population's learned state, in the learn topic's order.

The state starts from the newest snapshot of the learned-state global table
(stream/learned_table.py) and is written back there once per batch (a batch is up to
`LEARN_BATCH` deltas or `LEARN_WITHIN_S` seconds), before the batch is acked. The snapshot
records the offset of the last delta it holds, so a delta re-read after a crash or a hand-over
is skipped, never folded twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec
from distillguard.models.learned import LearnDelta, Learned
from distillguard.stream.agents.stage import BatchStage
from distillguard.stream.batches.sink import BatchSink
from distillguard.stream.learned_table import KEY, LearnedTable
from distillguard.stream.topics import TopicNames

log = logging.getLogger(__name__)
_decode = msgspec.msgpack.Decoder(LearnDelta).decode
LEARN_BATCH = 500
LEARN_WITHIN_S = 2.0


@dataclass(kw_only=True)
class LearnerStage(BatchStage):
    table: LearnedTable
    names: TopicNames
    feedback_min_labels: int
    learned: Learned | None = None
    changed: bool = False

    async def prepare(self) -> None:
        """Fold into our state, unless the table holds a newer one (another worker was the
        learner meanwhile): then into a copy of that."""
        newest = await self.table.latest()
        mine = self.learned.applied.get(0, -1) if self.learned is not None else -2
        if newest is not None and newest.applied.get(0, -1) > mine:
            self.learned = Learned.decode(self.table.raw)  # our own copy: we change it
        if self.learned is None:
            self.learned = Learned()
        self.learned.feedback.min_labels = self.feedback_min_labels

    async def publish(self) -> None:
        if self.changed and self.learned is not None:
            await self.checkpoint.send(self.names.learned, KEY, self.learned.encode(), 0)
            self.changed = False


async def learn_population(stage: LearnerStage, sink: BatchSink) -> None:
    def handle(record):
        learned = stage.learned
        if record.offset <= learned.applied.get(record.partition, -1):
            return  # already in the state (re-read after a crash or hand-over)
        try:
            delta = _decode(record.value)
        except msgspec.DecodeError as err:  # only we write it, but never crash
            log.error("skipping an undecodable learning delta at offset %d: %s", record.offset,
                      err)
        else:
            learned.apply(delta)
        learned.applied[record.partition] = record.offset
        stage.changed = True

    await stage.run_batches(sink, {stage.names.learn: handle})
