"""Kafka messages the API sends: label feedback (from an outbox table) and the decision
deletions an allowlist entry causes.

The database is always written first; Kafka is best effort and retried. A label stays in
`alert_labels` with `published_at` NULL until its feedback message is acknowledged by the
broker; every later label (and the API's start) sends whatever is still pending, so a broker
outage delays feedback and never loses it.

Feedback message (topic settings.feedback_topic, key account_id, JSON, at least once):
    {"label_id": int, "alert_id": str, "account_id": str,
     "label": "true_positive" | "false_positive", "reason_codes": [str, ...],
     "labelled_at": RFC 3339 UTC}
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from distillguard.sinks.decisions import Change, aware
from distillguard.sinks.schema import alert_labels
from distillguard.stream.api.metrics import ApiMetrics
from distillguard.stream.decider import publish_changes
from distillguard.stream.kafka_security import aiokafka_kwargs
from distillguard.stream.topics import ensure_topics
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)
BATCH = 100


def feedback_message(row) -> dict:
    labelled = aware(row["labelled_at"]).astimezone(UTC)
    return {"label_id": row["label_id"], "alert_id": row["alert_id"],
            "account_id": row["account_id"], "label": row["label"],
            "reason_codes": list(row["reason_codes"]),
            "labelled_at": labelled.isoformat().replace("+00:00", "Z")}


class Publisher:
    def __init__(self, engine: sa.Engine, metrics: ApiMetrics, broker: str | None,
                 feedback_topic: str, decisions_topic: str, partitions: int = 4,
                 timeout_s: float = 5.0) -> None:
        self.engine, self.metrics, self.broker = engine, metrics, broker or None
        self.feedback_topic, self.decisions_topic = feedback_topic, decisions_topic
        self.partitions, self.timeout_s = partitions, timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def flush_feedback(self) -> None:
        """Send pending feedback in label order; stop at the first failure (retried later)."""
        if not self.broker:
            return
        async with self._lock:
            try:
                while rows := await run_in_threadpool(self._pending):
                    producer = await self._started()
                    for row in rows:
                        await asyncio.wait_for(producer.send_and_wait(
                            self.feedback_topic, key=row["account_id"].encode(),
                            value=json.dumps(feedback_message(row)).encode()), self.timeout_s)
                        await run_in_threadpool(self._mark_published, row["label_id"])
                        self.metrics.feedback.labels("sent").inc()
            except Exception as err:
                self.metrics.feedback.labels("failed").inc()
                log.warning("feedback not sent yet (%s: %s); kept for the next attempt",
                            type(err).__name__, err)
                await self._reset()

    async def send_decisions(self, changes: list[Change]) -> None:
        """Announce decision deletions on the decisions topic (the stream API is authoritative)."""
        if not self.broker or not changes:
            return
        try:
            async with self._lock:
                producer = await self._started()
                await asyncio.wait_for(publish_changes(producer, self.decisions_topic, changes),
                                       self.timeout_s)
        except Exception as err:
            log.warning("decision deletions not announced on Kafka (%s: %s)",
                        type(err).__name__, err)
            await self._reset()

    async def close(self) -> None:
        await self._reset()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.broker, acks="all", **aiokafka_kwargs(),
                                        request_timeout_ms=int(self.timeout_s * 1000))
            try:
                await asyncio.wait_for(producer.start(), self.timeout_s)
                # The worker reads feedback co-partitioned with its input: a topic that broker
                # auto-creation made with its default partition count would stop the worker.
                await asyncio.to_thread(ensure_topics, self.broker,
                                        [self.feedback_topic, self.decisions_topic],
                                        self.partitions, timeout_s=self.timeout_s)
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as err:  # already broken; nothing more to do
                log.debug("producer stop: %s", err)

    def _pending(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(alert_labels).where(alert_labels.c.published_at.is_(None))
                                .order_by(alert_labels.c.label_id).limit(BATCH)).mappings().all()

    def _mark_published(self, label_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(alert_labels.update().where(alert_labels.c.label_id == label_id)
                         .values(published_at=datetime.now(tz=UTC)))
