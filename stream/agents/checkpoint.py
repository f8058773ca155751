"""Flush, then ack: what must happen before a batch's input offsets become committable.

A stage collects its outputs with `send` while it processes a batch; `commit` then sends the
touched state's changelog records, awaits EVERY send's delivery future, and only when it
returns does the stage ack the batch (stream/batches/sink.py; Faust commits acked offsets on
its own timer, after flushing its producer). So state and outputs are on the broker before the
offsets that produced them are committed (Kafka Streams' record cache and quix-streams'
checkpoints work the same way).

A send that fails raises `SendFailed` and marks the checkpoint failed: its batch is never acked,
nothing is acked after it (acking later events over an unacked one would let Faust commit past
it, faust-streaming #606), and the worker crashes so another process re-reads the batch from
the last committed offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

log = logging.getLogger(__name__)


class SendFailed(RuntimeError):
    """An output or changelog record was not delivered: its inputs stay uncommitted."""


class State(Protocol):
    """A piece of changelogged state: what changed since the last batch, as changelog records
    (key, value or None for a tombstone, partition); told when they are on the broker."""

    topic: str

    def flush(self) -> list[tuple[bytes, bytes | None, int]]: ...
    def delivered(self, records: list, results: list) -> None: ...


class Checkpoint:
    def __init__(self, app, state: list[State]) -> None:
        self.app, self.state = app, state
        self.pending: list[Awaitable] = []
        self.failed: BaseException | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None, headers: list | None = None) -> None:
        """Queue one record; its delivery is awaited by the next `commit`."""
        self.pending.append(await self.app.producer.send(topic, key, value, partition, None,
                                                         headers))

    async def commit(self) -> None:
        """Send the changed state and wait for every delivery (then the caller acks)."""
        if self.failed is not None:
            raise SendFailed("an earlier send failed; not acking anything") from self.failed
        try:
            changed = []
            for state in self.state:
                records = state.flush()
                futures = [await self.app.producer.send(state.topic, key, raw, partition, None,
                                                        None) for key, raw, partition in records]
                changed.append((state, records, futures))
            pending, self.pending = self.pending, []
            await asyncio.gather(*pending)
            for state, records, futures in changed:
                state.delivered(records, await asyncio.gather(*futures))
        except Exception as err:
            self.failed = err
            log.critical("a send failed (%s: %s): the batch's input events stay uncommitted; "
                         "the worker stops so that they are re-read", type(err).__name__, err)
            await self.app.crash(err)
            raise SendFailed(str(err)) from err
