"""Faust's aiokafka consumer, handing the records of batch topics to their stage's `BatchSink`
as whole fetched chunks; every other topic (changelogs during recovery, ...) takes Faust's usual
per-message path.

`getmany` follows `faust.transport.consumer.Consumer.getmany` / `_drain_messages`: it seeks to
the committed offsets when the flow is stopped, drops records below the read offset (re-fetched
after a seek), records a hole between chunks as a gap, and stops on a new generation.
"""

from __future__ import annotations

import faust
from distillguard.stream.batches.sink import BatchSink, Chunk
from faust.transport.drivers import aiokafka as faust_aiokafka


class BatchConsumer(faust_aiokafka.Consumer):
    async def on_partitions_revoked(self, revoked) -> None:
        # Faust drops acked-but-uncommitted offsets of revoked partitions (`_acked.pop`) before
        # it waits for its streams and commits: the next owner would redo up to a commit
        # interval of work. Commit what is acked first.
        try:
            await self.commit()
        except Exception as err:  # duplicates, never loss
            self.log.warning("commit before revocation failed: %r", err)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float):
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # fetched while the flow was stopped: back to the commit
            try:
                await self.perform_seek()
            except Exception as err:
                self.log.warning(f"exception performing seek when flow not active {err}")
            return
        sinks: dict[str, BatchSink] = self.app.batch_sinks
        read_offset, buffered = self._read_offset, self._buffered_partitions
        rest = {}
        for tp, recs in records.items():
            sink = sinks.get(tp.topic)
            if sink is None:
                rest[tp] = recs
                continue
            if not (active is None or tp in active or tp in buffered):
                continue
            if self.app.consumer_generation_id != generation or not self.flow_active:
                return
            r = read_offset[tp]
            if r is not None:
                recs = [rec for rec in recs if rec.offset >= r]
                if not recs:
                    continue
                if r and recs[0].offset - r > 1:
                    await self._add_gap(tp, r + 1, recs[0].offset - 1)
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            await sink.put(Chunk(tp, recs, recs[0].offset, recs[-1].offset, generation))
            if self.app.consumer_generation_id != generation or not self.flow_active:
                return  # rebalanced while waiting for room: recovery resets the read offset
            read_offset[tp] = recs[-1].offset
        to_message = self._to_message
        for tp, record in self.scheduler.iterate(rest):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            if active is None or tp in active or tp in buffered:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, to_message(tp, record)


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer


class BatchApp(faust.App):
    """A Faust app whose consumer feeds `batch_sinks` (topic -> sink)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_sinks: dict[str, BatchSink] = {}

    def batch_sink(self, topic) -> BatchSink:
        """Subscribe `topic` (a Faust topic, possibly of several names) and give the sink its
        records arrive in."""
        sink = BatchSink(self, topic.topics)
        for name in topic.topics:
            self.batch_sinks[name] = sink
        self.topics.add(topic)
        return sink

    def _new_transport(self):
        return BatchTransport(self.conf.broker_consumer, self)
