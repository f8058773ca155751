"""The Kafka worker (`distillguard run`): Faust agents around the shared pipeline.

    api-access-logs ──score_accounts──> account-profiles (changelog) ──> account-risk, alerts
          │   (bad) └─> api-access-logs.dlq     │ (not keyed by account: rekey)
          │                                     └─> <app>-events-by-account ──score_rekeyed──┘
    feedback ──apply_feedback──> account-profiles
    (every stage that scores) ──> seen-events (event ids by account and event-time bucket)
    account-risk + alerts ──Persister (own consumer group)──> PostgreSQL

Every agent of the per-account stage runs the same checkpointed batch loop
(stream/agents/stage.py): take a batch without acking, process it, flush each touched profile
once and the outputs, await every delivery, then ack. An account's events are processed on the
partition its key hashes to, which is also its profile's changelog partition.
"""

from __future__ import annotations

import logging

import faust
from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.feedback import FeedbackState
from distillguard.models.profile import profile_decoder, profile_encoder
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.agents.apply_feedback import apply_feedback
from distillguard.stream.agents.checkpoint import Checkpoint
from distillguard.stream.agents.rekey import Partitioner
from distillguard.stream.agents.score_accounts import score_accounts, score_rekeyed
from distillguard.stream.agents.stage import AccountStage
from distillguard.stream.config import Settings
from distillguard.stream.intake.formats import account_attribute_list, input_formats
from distillguard.stream.kafka_security import faust_kwargs
from distillguard.stream.lag import measure_lag
from distillguard.stream.offset_gaps import OffsetGapDetector
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.profile_table import ProfileStore
from distillguard.stream.seen_table import SeenEvents, seen_table
from distillguard.stream.services import side_services
from distillguard.stream.topics import TopicNames, ensure_topics
from prometheus_client import start_http_server

log = logging.getLogger("distillguard.worker")
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


def make_app(settings: Settings, partitions: int) -> faust.App:
    return faust.App(
        settings.app_id, broker=f"kafka://{settings.broker}", store="rocksdb://",
        datadir=settings.data_dir, topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True, consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s, producer_acks=-1, web_port=settings.web_port,
        web_bind="127.0.0.1", web_host="127.0.0.1", processing_guarantee="at_least_once",
        # Events up to the contract's 1 MiB (and oversized ones bound for the DLQ) must pass.
        producer_max_request_size=MAX_MESSAGE_BYTES, consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        producer_max_batch_size=1024 * 1024, producer_linger=0.005,
        # A killed worker's partitions move to a new one within seconds, not a minute.
        broker_session_timeout=10.0, broker_heartbeat_interval=2.0,
        **faust_kwargs(settings),
    )


def rocksdb_options(settings: Settings) -> dict:
    """Per-partition RocksDB sizes: Faust's defaults (a 2 GiB block cache and three 64 MiB
    memtables per partition) would let the cache alone outgrow the memory budget."""
    return {"driver": "rocksdict", "block_cache_size": settings.rocksdb_cache_mb << 20,
            "write_buffer_size": 16 << 20, "max_write_buffer_number": 2}


def account_stage(app: faust.App, settings: Settings, metrics: Metrics, names: TopicNames,
                  partitions: int) -> AccountStage:
    """The per-account stage: profiles and seen event ids in changelogged RocksDB tables, one
    engine, one checkpoint."""
    options = rocksdb_options(settings)
    table = app.Table("account-profiles", default=None, partitions=partitions,
                      changelog_topic=app.topic(f"{settings.app_id}-account-profiles-changelog",
                                                partitions=partitions, compacting=True,
                                                deleting=False, internal=True, **RAW),
                      key_type=bytes, value_type=bytes, use_partitioner=True,
                      options=dict(options))
    table.key_serializer = table.value_serializer = "raw"
    partition_of = Partitioner(partitions)
    profiles = ProfileStore(table, partition_of, profile_encoder.encode, profile_decoder.decode,
                            idle_s=settings.profile_idle_s)
    seen = SeenEvents(seen_table(app, partitions, settings.dedup_window_s, options),
                      partition_of, settings.dedup_window_s)
    outputs, dead_letters = ListSink(), ListSink()
    engine = Engine(profiles, EngineConfig(settings.score_every, settings.score_interval_s),
                    feedback=FeedbackState(min_labels=settings.feedback_min_labels), seen=seen)
    return AccountStage(engine=engine, profiles=profiles,
                        pipeline=Pipeline(engine, metrics, dead_letters, outputs,
                                          account_attributes=account_attribute_list(
                                              settings.account_attributes)),
                        formats=input_formats(names.input, settings.input_format,
                                              settings.extra_inputs),
                        outputs=outputs, dead_letters=dead_letters,
                        checkpoint=Checkpoint(app, [profiles, seen]), partition_of=partition_of,
                        gaps=OffsetGapDetector(app.consumer, metrics), names=names,
                        metrics=metrics, batch_max=settings.batch_max,
                        batch_within_s=settings.batch_within_s)


def agent(app: faust.App, topic, fun, stage: AccountStage) -> None:
    """Register `fun(stage, stream)` as a Faust agent named after it (concurrency 1)."""
    async def run(stream):
        await fun(stage, stream)
    run.__name__ = run.__qualname__ = fun.__name__
    app.agent(topic, name=fun.__name__, concurrency=1)(run)


def build_app(settings: Settings, metrics: Metrics) -> faust.App:
    names = TopicNames.of(settings)
    formats = input_formats(names.input, settings.input_format, settings.extra_inputs)
    extra_inputs = [t for t in formats if t != names.input]  # more input topics, other formats
    counts = ensure_topics(settings.broker, [*names.all(), *extra_inputs], settings.partitions,
                           settings.replication_factor)
    partitions = counts[names.input]
    for co_partitioned in (names.by_account, names.feedback):  # they update the same profiles
        if counts[co_partitioned] != partitions:
            raise RuntimeError(f"{co_partitioned} has {counts[co_partitioned]} partitions, "
                               f"{names.input} has {partitions}: they must match")
    app = make_app(settings, partitions)
    stage = account_stage(app, settings, metrics, names, partitions)
    topic = lambda name: app.topic(name, partitions=partitions, **RAW)  # noqa: E731
    agent(app, app.topic(names.input, *extra_inputs, partitions=partitions, **RAW), score_accounts,
          stage)
    agent(app, topic(names.by_account), score_rekeyed, stage)
    agent(app, topic(names.feedback), apply_feedback, stage)

    @app.timer(interval=settings.lag_interval_s)
    async def measure():
        """Consumer lag per owned input partition, and how many profiles this worker holds."""
        try:
            await measure_lag(app.consumer, stage.gaps, metrics, (names.input, names.by_account))
            metrics.accounts.set(len(stage.profiles))
        except Exception as err:  # a gauge must never take the worker down
            log.warning("lag measurement failed: %s: %s", type(err).__name__, err)

    for service in side_services(settings, metrics):
        app.task(service)
    return app


def run_worker(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiokafka builds a debug record for every message it sends (~45 us each) unless told not to
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, logging.getLogger().level))
    metrics = Metrics()
    app = build_app(settings, metrics)  # topics exist before /metrics says "up"
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host,
                          registry=metrics.registry)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
