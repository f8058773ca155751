"""A bounded producer: contract events to the input topic, keyed by account_id.

`send` returns once the broker has acknowledged every event (so an OTLP 200 means the events are
durable); when more than `max_pending` events are unacknowledged it refuses instead of queueing,
and the receiver answers 503 with Retry-After, which OTLP exporters retry.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiokafka import AIOKafkaProducer
from distillguard.models.event import Event

_json = msgspec.json.Encoder()


class Backpressure(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"producer buffer full; retry after {retry_after}s")
        self.retry_after = retry_after


class EventProducer:
    def __init__(self, broker: str, topic: str, max_pending: int) -> None:
        self.topic = topic
        self.max_pending = max_pending
        self.pending = 0
        self.broker = broker
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Inside the event loop: aiokafka binds its producer to the running loop."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.broker, acks="all", linger_ms=5,
                                          enable_idempotence=True)
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, events: list[Event]) -> None:
        if self.pending + len(events) > self.max_pending:
            raise Backpressure(retry_after=1)
        self.pending += len(events)
        try:
            acks = [await self._producer.send(self.topic, key=e.account_id.encode(), value=_encode(e))
                    for e in events]
            await asyncio.gather(*acks)
        finally:
            self.pending -= len(events)


def _encode(event: Event) -> bytes:
    """The contract form: `ts`/`created_ts` are intake's own fields, recomputed by the worker."""
    event.ts, event.created_ts = 0.0, None
    return _json.encode(event)
