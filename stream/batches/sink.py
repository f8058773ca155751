"""The hand-off between Faust's fetch loop and one stage's task: bounded, in fetch order, and
acked by offset range only after the stage flushed what the batch produced.

Why at-least-once holds:
- offsets become committable only through `Consumer._acked` (faust/transport/consumer.py `ack`
  -> `_new_offset` -> `_commit_offsets`), and `ack()` here writes there only after the flush;
- per partition, acks are in order and without holes (chunks are contiguous fetch ranges queued
  in order, a batch is a prefix of the queue), and a batch that was not acked stops all later
  acks, so `_new_offset` never commits past an unprocessed offset;
- on a rebalance Faust's `wait_empty` waits while `_unacked_messages` is not empty: the batch in
  flight is in there (`InFlight`), so Faust waits for its ack, then commits; chunks fetched
  before the rebalance are dropped unacked and re-read from the committed offsets.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from faust.types.tuples import ack_lock
from mode.utils.futures import notify

MAX_CHUNKS = 16  # fetched chunks queued per stage (each at most consumer_max_fetch_size)


@dataclass
class Chunk:
    tp: Any                 # faust TP
    records: list           # aiokafka ConsumerRecords, contiguous fetch order
    first: int              # offsets this fetch covers (holes inside: absent offsets)
    last: int
    generation_id: int


class InFlight:
    """A batch in flight, as Faust's `Consumer.wait_empty` sees it (it waits while
    `_unacked_messages` holds anything not acked)."""

    __slots__ = ("__weakref__", "acked", "n", "refcount")

    def __init__(self, n: int) -> None:
        self.acked, self.refcount, self.n = False, 1, n


def ack_offsets(consumer, tp, offsets: Iterable[int]) -> None:
    """`Consumer.ack`'s bookkeeping for a range of processed offsets, without Message objects."""
    committed = consumer._committed_offset[tp]
    with ack_lock:
        index = consumer._acked_index[tp]
        new = [o for o in offsets if (committed is None or o >= committed) and o not in index]
        index.update(new)
        consumer._acked[tp].extend(new)
        consumer._n_acked += len(new)
    notify(consumer._waiting_for_ack)


class BatchSink:
    def __init__(self, app, topics: Iterable[str], max_chunks: int = MAX_CHUNKS) -> None:
        self.app = app
        self.topics = set(topics)
        self.queue: collections.deque[Chunk] = collections.deque()
        self.max_chunks = max_chunks
        self._not_empty, self._not_full, self._idle = (asyncio.Event(), asyncio.Event(),
                                                       asyncio.Event())
        self._not_full.set()
        self._idle.set()
        self.blocked: set = set()          # partitions being revoked
        self._pending: tuple[list[Chunk], InFlight] | None = None
        self.failed = False                # a batch was not acked: never ack again
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)

    # -- the fetch loop's side
    async def put(self, chunk: Chunk) -> None:
        while len(self.queue) >= self.max_chunks:
            self._not_full.clear()
            await self._not_full.wait()
        self.queue.append(chunk)
        self._not_empty.set()

    # -- the stage's side
    def _pop(self, room: int) -> Chunk | None:
        """The next chunk of the current generation, at most `room` records of it (a fetch can
        hold thousands of records of one partition: the rest stays first in the queue)."""
        if not self.app.flow_control.is_active():
            return None  # rebalancing or recovering: queued chunks are judged once it resumes
        generation = self.app.consumer_generation_id
        while self.queue:
            chunk = self.queue.popleft()
            if chunk.generation_id != generation or chunk.tp in self.blocked:
                self._not_full.set()
                continue  # fetched before a rebalance: dropped unacked, re-read from the commit
            if len(chunk.records) > room:
                head, tail = chunk.records[:room], chunk.records[room:]
                self.queue.appendleft(Chunk(chunk.tp, tail, tail[0].offset, chunk.last,
                                            chunk.generation_id))
                return Chunk(chunk.tp, head, chunk.first, head[-1].offset, chunk.generation_id)
            self._not_full.set()
            return chunk
        self._not_empty.clear()
        return None

    async def _first(self, room: int) -> Chunk:
        while (chunk := self._pop(room)) is None:
            if self.app.flow_control.is_active():
                await self._not_empty.wait()
            else:
                await asyncio.sleep(0.05)  # nothing signals that the flow resumed
        return chunk

    async def batches(self, max_records: int, within: float) -> AsyncIterator[list[Chunk]]:
        """Lists of chunks (at most `max_records` records, waiting at most `within` s to fill).
        The caller flushes, then `ack(batch)`s before asking for the next one; a batch not
        acked stops all acking (a later ack must never commit past an unprocessed offset)."""
        loop = asyncio.get_running_loop()
        consumer = self.app.consumer
        while True:
            batch = [await self._first(max_records)]
            self._idle.clear()
            inflight = None
            try:
                n, deadline = len(batch[0].records), loop.time() + within
                while n < max_records:
                    chunk = self._pop(max_records - n)
                    if chunk is None:
                        remaining = deadline - loop.time()
                        if remaining <= 0 or not self.app.flow_control.is_active():
                            break
                        try:
                            await asyncio.wait_for(self._not_empty.wait(), remaining)
                        except TimeoutError:
                            break
                        continue
                    batch.append(chunk)
                    n += len(chunk.records)
                generation = self.app.consumer_generation_id
                batch = [c for c in batch
                         if c.generation_id == generation and c.tp not in self.blocked]
                if batch:
                    inflight = InFlight(sum(len(c.records) for c in batch))
                    consumer._unacked_messages.add(inflight)
                    self._pending = (batch, inflight)
                    yield batch
                    if self._pending is not None:
                        self.failed = True
                        raise RuntimeError("a batch was not acked before the next was taken")
            finally:
                if self._pending is not None and self._pending[1] is inflight:
                    self.failed = True  # closed or raised while processing: never ack again
                    self._pending = None
                if inflight is not None:
                    inflight.acked = True  # lets wait_empty() go on either way
                    consumer._unacked_messages.discard(inflight)
                    notify(consumer._waiting_for_ack)
                self._idle.set()

    def ack(self, batch: list[Chunk]) -> None:
        """Every record of `batch` is processed and its effects flushed: its offsets become
        committable (Faust commits them on its timer)."""
        if self.failed:
            raise RuntimeError("an earlier batch was not acked: not acking anything any more")
        if self._pending is None or self._pending[0] is not batch:
            raise RuntimeError("ack() takes the batch last yielded by batches()")
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        inbound = self.app.monitor.stream_inbound_time  # keeps Faust's livelock detector quiet
        now = time.monotonic()
        for chunk in batch:
            if chunk.generation_id != generation:
                continue  # a rebalance completed meanwhile: not ours to ack any more
            ack_offsets(consumer, chunk.tp, range(chunk.first, chunk.last + 1))
            inbound[chunk.tp] = now
        inflight = self._pending[1]
        self._pending = None
        inflight.acked = True
        consumer._unacked_messages.discard(inflight)
        notify(consumer._waiting_for_ack)

    # -- rebalances
    async def _on_revoked(self, sender, revoked, **kwargs) -> None:
        """Sent after Faust stopped the flow and waited for the batch in flight (and committed
        it): queued chunks of revoked partitions are dropped, unprocessed and unacked."""
        self.blocked |= set(revoked)
        await self._idle.wait()
        self.queue = collections.deque(c for c in self.queue if c.tp not in self.blocked)
        self._not_full.set()

    async def _on_assigned(self, sender, assigned, **kwargs) -> None:
        self.blocked -= set(assigned)
        if self.queue:
            self._not_empty.set()
