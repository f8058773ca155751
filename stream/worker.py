"""The Kafka worker (`distillguard run`): Faust agents around the shared pipeline.

    api-access-logs ──score_events──> profiles table (changelog) ──> account-risk, alerts
          │  (bad)  └─> api-access-logs.dlq        (no key / wrong key)
          └────────────> <app>-events-by-account ──score_rekeyed──┘
    account-risk + alerts ──Persister (own consumer group)──> PostgreSQL

Agents run with concurrency=1 (they have side effects) and take events one at a time; profiles
are always reassigned (`table[k] = v`) on every event (see stream/profile_table.py for why
not less often); and an account's events are processed on the partition its key hashes to,
which is also where the table's partitioner puts its changelog records, so its profile lives
in exactly one partition.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import faust
import msgspec
from aiokafka.partitioner import murmur2
from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.event import Event
from distillguard.models.feedback import FeedbackState
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.codecs import PROFILE_CODEC
from distillguard.stream.config import Settings
from distillguard.stream.intake.formats import account_attribute_list, input_formats
from distillguard.stream.kafka_security import faust_kwargs
from distillguard.stream.offset_gaps import OffsetGapDetector
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.profile_table import ProfileTable
from distillguard.stream.services import side_services
from distillguard.stream.topics import TopicNames, ensure_topics
from prometheus_client import start_http_server

log = logging.getLogger("distillguard.worker")
_json = msgspec.json.Encoder()
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_event_decoder = msgspec.json.Decoder(Event)


class FeedbackMessage(msgspec.Struct):
    """What `POST /v1/alerts/{id}/label` publishes on the feedback topic."""

    account_id: str
    label: Literal["true_positive", "false_positive"]  # anything else is malformed
    alert_id: str = ""
    reason_codes: list[str] = []
    labelled_at: str = ""
    label_id: int = 0  # alert_labels.label_id; de-duplicates redelivered labels (0 = none)


_feedback_decoder = msgspec.json.Decoder(FeedbackMessage)


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default (murmur2) partitioner, as Java, aiokafka and kafka-python clients use."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def build_app(settings: Settings, metrics: Metrics) -> faust.App:
    names = TopicNames.of(settings)
    formats = input_formats(names.input, settings.input_format, settings.extra_inputs)
    extra_inputs = [t for t in formats if t != names.input]
    counts = ensure_topics(settings.broker, [names.input, names.dead_letters, names.by_account,
                                             names.risk, names.alerts, names.feedback, *extra_inputs],
                           settings.partitions, settings.replication_factor)
    partitions = counts[names.input]
    for co_partitioned in (names.by_account, names.feedback, *extra_inputs):  # they update the same profiles
        if counts[co_partitioned] != partitions:
            raise RuntimeError(f"{co_partitioned} has {counts[co_partitioned]} partitions, "
                               f"{names.input} has {partitions}: they must match")
    app = faust.App(
        settings.app_id, broker=f"kafka://{settings.broker}", store="memory://",
        datadir=settings.data_dir, topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True, consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0, producer_acks=-1, web_port=settings.web_port,
        web_bind="127.0.0.1", web_host="127.0.0.1", processing_guarantee="at_least_once",
        # Events up to the contract's 1 MiB (and oversized ones bound for the DLQ) must pass.
        producer_max_request_size=MAX_MESSAGE_BYTES, consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        # Each event rewrites its account's profile (~6 KiB) to the changelog: the default
        # 16 KiB batch holds two of them and every produce becomes a round trip.
        producer_max_batch_size=1024 * 1024, producer_linger=0.005,
        # A killed worker's partitions move to a new one within seconds, not a minute.
        broker_session_timeout=10.0, broker_heartbeat_interval=2.0,
        **faust_kwargs(settings),
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    input_topic = app.topic(names.input, *extra_inputs, partitions=partitions, **raw)
    by_account = app.topic(names.by_account, partitions=partitions, **raw)
    dead_letters = app.topic(names.dead_letters, **raw)
    risk_topic, alerts_topic = app.topic(names.risk, **raw), app.topic(names.alerts, **raw)
    # Faust derives serializers from key/value types; profiles are not Faust models, so the
    # changelog topic (written by the table AND read back on recovery) names the codec itself.
    changelog = app.topic(f"{settings.app_id}-account-profiles-changelog", partitions=partitions,
                          key_serializer="raw", value_serializer=PROFILE_CODEC,
                          compacting=True, deleting=False, internal=True)
    table = app.Table("account-profiles", default=None, partitions=partitions,
                      changelog_topic=changelog, use_partitioner=True)
    table.key_serializer, table.value_serializer = "raw", PROFILE_CODEC
    profiles = ProfileTable(table)
    outputs, dlq = ListSink(), ListSink()
    engine = Engine(profiles, EngineConfig(settings.score_every, settings.score_interval_s),
                    feedback=FeedbackState(min_labels=settings.feedback_min_labels))
    pipeline = Pipeline(engine, metrics, dlq, outputs,
                        account_attributes=account_attribute_list(settings.account_attributes))
    feedback_topic = app.topic(names.feedback, partitions=partitions, **raw)
    gaps = OffsetGapDetector(app.consumer, metrics)

    async def publish() -> None:
        """Send what the last event produced: dead letters, risk updates, alerts. If the worker
        dies before these reach the broker while its profiles already did, the re-read events
        are duplicates and the engine re-emits the account's state (see Engine.process)."""
        for rec in dlq.items:
            headers = [("dlq.reason", rec.reason.encode()), ("dlq.error", rec.error.encode()[:1024])]
            headers += [(f"dlq.source.{k}", str(v).encode()) for k, v in rec.source.items()]
            await dead_letters.send(value=rec.original, headers=headers)
        for out in outputs.items:
            topic = alerts_topic if out.__class__.__name__ == "Alert" else risk_topic
            await topic.send(key=out.account_id.encode(), value=_json.encode(out))
        dlq.items.clear()
        outputs.items.clear()

    @app.agent(input_topic, concurrency=1)
    async def score_events(stream):
        async for event in stream.events():
            started = time.perf_counter()
            msg = event.message
            gaps.check(msg)
            for ev in pipeline.parse_all(event.value or b"",
                                         {"topic": msg.topic, "partition": msg.partition,
                                          "offset": msg.offset}, formats[msg.topic]):
                key = ev.account_id.encode()
                if msg.key == key and msg.partition == partition_for(key, partitions):
                    pipeline.score(ev)
                else:  # route by account_id ourselves, so its events meet on one partition
                    await by_account.send(key=key, value=_json.encode(ev),
                                          partition=partition_for(key, partitions))
            await publish()
            metrics.latency.observe(time.perf_counter() - started)

    @app.agent(by_account, concurrency=1)
    async def score_rekeyed(stream):
        async for event in stream.events():
            started = time.perf_counter()
            gaps.check(event.message)
            pipeline.score(_event_decoder.decode(event.value))
            await publish()
            metrics.latency.observe(time.perf_counter() - started)

    @app.agent(feedback_topic, concurrency=1)
    async def apply_feedback(stream):
        """Analyst labels from the API: silence false-positive reasons, reweigh reasons."""
        async for event in stream.events():
            try:
                label = _feedback_decoder.decode(event.value)
            except msgspec.DecodeError as err:
                log.warning("ignoring malformed feedback at %s[%d]@%d: %s", event.message.topic,
                            event.message.partition, event.message.offset, err)
                metrics.feedback.labels(label="malformed").inc()
                continue
            engine.feedback(label.account_id, label.label, label.reason_codes, label.label_id)
            metrics.feedback.labels(label=label.label).inc()

    @app.timer(interval=5.0)
    async def measure_lag():
        """Consumer lag per input partition, and how many profiles this worker holds."""
        metrics.consumer_lag.clear()  # partitions moved to another worker stop reporting here
        for tp in app.consumer.assignment():
            if tp.topic not in (names.input, names.by_account):
                continue
            position = gaps.expected.get(tp)  # next offset the agents will process
            if position is None:
                position = await app.consumer.position(tp) or 0
            lag = max(0, app.consumer.highwater(tp) - position)
            metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
        metrics.accounts.set(len(table))

    for service in side_services(settings, metrics):
        app.task(service)

    return app


def run_worker(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = Metrics()
    app = build_app(settings, metrics)  # topics exist before /metrics says "up"
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host,
                          registry=metrics.registry)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
