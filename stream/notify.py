"""Deliver alerts to webhooks: one consumer group per webhook on the alerts topic, at-least-once.

Why a group per webhook: each keeps its own offsets, so a receiver that is down only holds back
its own deliveries, never another webhook's and never scoring (this runs beside the Faust agents,
not in them). Alerts are delivered one at a time in partition order, and alerts are keyed by
account, so a receiver sees each account's alerts in order. An offset is committed only after
the receiver answered 2xx, or after a permanently rejected alert was written to the webhook
dead-letter topic; a restart therefore re-sends at most the alert that was in flight.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import msgspec
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from distillguard.models.outcomes import Alert
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.retry import BROKER, paused_polling, retry, supervise
from distillguard.sinks.webhooks import (
    RetryPolicy,
    Webhook,
    WebhookMetrics,
    WebhookSender,
    delivery_key,
    parse_webhooks,
)
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import aiokafka_kwargs
from distillguard.stream.topics import ensure_topics

log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(Alert)


def webhook_dlq_topic(alerts_topic: str) -> str:
    return f"{alerts_topic}.webhook-dlq"


def webhook_group_id(app_id: str, webhook: Webhook) -> str:
    """Stable across restarts and config reorderings; reveals nothing of the (secret) URL."""
    return f"{app_id}-webhook-{webhook.id}"


async def run_notifier(settings: Settings, metrics: Metrics, *,
                       policy: RetryPolicy | None = None) -> None:
    webhooks = parse_webhooks(settings.webhook_urls, settings.webhook_slack_urls)
    if not webhooks:
        return
    dlq_topic = webhook_dlq_topic(settings.alerts_topic)
    await asyncio.to_thread(ensure_topics, settings.broker, [settings.alerts_topic, dlq_topic],
                            settings.partitions)
    webhook_metrics = WebhookMetrics.of(metrics.registry)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all",
                                client_id=f"{settings.app_id}-webhook-dlq", **aiokafka_kwargs(settings))
    await producer.start()
    try:
        dead_letters = DeadLetters(producer, dlq_topic)
        async with asyncio.TaskGroup() as tasks:
            for hook in webhooks:
                webhook_metrics.declare(hook.name)
                notifier = WebhookNotifier(hook, settings, dead_letters, webhook_metrics,
                                           policy or RetryPolicy())
                log.info("webhook %s (%s, %s body) delivering %s as group %s", hook.name,
                         hook.redacted, hook.format, settings.alerts_topic, notifier.group_id)
                tasks.create_task(notifier.run_forever(), name=f"webhook-{hook.name}")
    finally:
        await producer.stop()


class DeadLetters:
    """Alerts a webhook will never accept, kept on Kafka with why, so none is lost silently.

    The value is the original alert bytes (replayable as is); headers follow the input DLQ's
    `dlq.*` convention and name the webhook by its short name, never its URL.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer, self.topic = producer, topic

    async def record(self, msg: ConsumerRecord, webhook: Webhook, reason: str, error: str) -> None:
        headers = [("dlq.reason", reason.encode()), ("dlq.error", error.encode()[:1024]),
                   ("dlq.webhook", webhook.name.encode()), ("dlq.webhook.id", webhook.id.encode()),
                   ("dlq.webhook.format", webhook.format.encode()),
                   ("dlq.source.topic", msg.topic.encode()),
                   ("dlq.source.partition", str(msg.partition).encode()),
                   ("dlq.source.offset", str(msg.offset).encode())]
        # Until written: the offset is committed only after this returns.
        await retry(lambda: self.producer.send_and_wait(self.topic, value=msg.value, key=msg.key,
                                                        headers=headers),
                    what=f"webhook {webhook.name}: dead-letter write to {self.topic}",
                    backoff=BROKER, retry_on=(KafkaError,), logger=log)


class WebhookNotifier:
    """One webhook: its consumer, its sender, its offsets."""

    def __init__(self, webhook: Webhook, settings: Settings, dead_letters: DeadLetters,
                 metrics: WebhookMetrics, policy: RetryPolicy) -> None:
        self.webhook, self.settings = webhook, settings
        self.dead_letters, self.metrics, self.policy = dead_letters, metrics, policy
        self.group_id = webhook_group_id(settings.app_id, webhook)
        self.rebalances = _RebalanceCounter()

    async def run_forever(self) -> None:
        """An unexpected error restarts only this webhook's consumer; uncommitted alerts are
        read again, so a bug or broker hiccup delays deliveries but loses none."""
        await supervise(f"webhook {self.webhook.name} consumer", self.run, logger=log)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker, group_id=self.group_id,
            client_id=f"{self.settings.app_id}-webhook-{self.webhook.name}",
            enable_auto_commit=False, auto_offset_reset="earliest", **aiokafka_kwargs(self.settings))
        consumer.subscribe([self.settings.alerts_topic], listener=self.rebalances)
        await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                sender = WebhookSender(self.webhook, session, self.policy, self.metrics)
                while True:
                    # One record at a time: nothing fetched is held across a rebalance.
                    fetched = await consumer.getmany(timeout_ms=1000, max_records=1)
                    for tp, records in fetched.items():
                        for msg in records:
                            await self._handle(consumer, sender, tp, msg)
        finally:
            await consumer.stop()

    async def _handle(self, consumer: AIOKafkaConsumer, sender: WebhookSender,
                      tp: TopicPartition, msg: ConsumerRecord) -> None:
        name = self.webhook.name
        try:
            alert = _decoder.decode(msg.value or b"")
        except msgspec.DecodeError as err:
            log.error("webhook %s: %s[%d]@%d is not an alert (%s); recorded on %s", name,
                      msg.topic, msg.partition, msg.offset, err, self.dead_letters.topic)
            await self.dead_letters.record(msg, self.webhook, "undecodable", str(err))
            self.metrics.deliveries.labels(webhook=name, outcome="undeliverable").inc()
            await self._commit(consumer, tp, msg.offset + 1, reposition=False)
            return
        assignments_before = self.rebalances.assignments
        delivery = await sender.deliver(alert, wait=paused_polling(consumer, poll_s=10.0),
                                        wanted=lambda: tp in consumer.assignment())
        if delivery.outcome == "abandoned":
            log.info("webhook %s: %s was revoked by a rebalance; its next owner sends alert %s",
                     name, tp, delivery_key(alert))
            return
        if delivery.outcome == "rejected":
            log.error("webhook %s (%s): alert %s rejected (%s); recorded on %s, not retried",
                      name, self.webhook.redacted, delivery_key(alert), delivery.error,
                      self.dead_letters.topic)
            await self.dead_letters.record(msg, self.webhook, "rejected", delivery.error)
            self.metrics.deliveries.labels(webhook=name, outcome="undeliverable").inc()
        else:
            self.metrics.deliveries.labels(webhook=name, outcome="delivered").inc()
        await self._commit(consumer, tp, msg.offset + 1,
                           reposition=self.rebalances.assignments != assignments_before)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int,
                      reposition: bool) -> None:
        try:
            await consumer.commit({tp: offset})
        except KafkaError as err:  # the partition moved on a rebalance: its new owner re-sends
            log.warning("webhook %s: commit of %s@%d failed (%s); the alert may be sent again",
                        self.webhook.name, tp, offset, err)
            return
        if reposition and tp in consumer.assignment():
            # A rebalance during the delivery reset the fetch position to the committed offset,
            # which would re-send the alert just delivered; start after it instead.
            consumer.seek(tp, offset)


class _RebalanceCounter(ConsumerRebalanceListener):
    """Counts assignments, so a delivery can tell whether a rebalance happened meanwhile."""

    def __init__(self) -> None:
        self.assignments = 0

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assignments += 1
