"""A bounded, non-blocking Kafka shipper for contract events, for code on someone else's hot path.

`offer()` never waits: it puts the event in a bounded buffer or, when the buffer is full, drops
it and counts the drop (a gateway must not slow down or run out of memory because Kafka is slow
or down). A background task sends batches with aiokafka, keyed by account_id (murmur2, the
partitioner the worker expects), so no event has to be re-keyed.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiokafka import AIOKafkaProducer
from distillguard.sinks.metrics import GatewayMetrics
from distillguard.stream.kafka_security import aiokafka_kwargs

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class EventShipper:
    def __init__(self, broker: str, topic: str, metrics: GatewayMetrics, buffer: int = 10_000,
                 batch: int = 200, linger_s: float = 0.2, kafka_kwargs: dict | None = None) -> None:
        self.broker, self.topic, self.metrics = broker, topic, metrics
        self.batch, self.linger_s = batch, linger_s
        self.kafka_kwargs = kafka_kwargs if kafka_kwargs is not None else aiokafka_kwargs()
        self.queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=buffer)
        self._task: asyncio.Task | None = None
        self._producer: AIOKafkaProducer | None = None
        self.accepted = self.finished = 0  # events queued / sent or dropped after queueing

    def offer(self, event: dict) -> bool:
        """Queue `event` for Kafka; False (and a counted drop) if the buffer is full."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dg-shipper")
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.metrics.events_dropped.labels("buffer_full").inc()
            return False
        self.accepted += 1
        self.metrics.buffered.set(self.queue.qsize())
        return True

    async def _next_batch(self) -> list[dict]:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(batch) < self.batch:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), timeout))
            except TimeoutError:
                break
        return batch

    async def _producer_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.broker, acks="all",
                                        enable_idempotence=True, linger_ms=5, **self.kafka_kwargs)
            await producer.start()
            self._producer = producer
        return self._producer

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            batch = await self._next_batch()
            self.metrics.buffered.set(self.queue.qsize())
            try:
                producer = await self._producer_started()
                futures = [await producer.send(self.topic, _encode(e), key=e["account_id"].encode())
                           for e in batch]
                await asyncio.gather(*futures)
                self.metrics.events_sent.inc(len(batch))
                self.finished += len(batch)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:  # the gateway goes on; the loss is counted
                log.warning("distillguard: %d events not sent to Kafka %s", len(batch), self.broker,
                            exc_info=True)
                self.metrics.events_dropped.labels("kafka").inc(len(batch))
                self.finished += len(batch)
                await self._reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:
                log.debug("producer stop failed", exc_info=True)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until the buffer is empty and the last batch acknowledged (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.finished < self.accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._reset()
