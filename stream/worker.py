"""The Kafka worker (`distillguard run`): three keyed stages, one verb-named task each.

    per-account stage, score_accounts (key: account id; profiles + seen event ids in RocksDB)
      api-access-logs ──────────── score_input ──┐   (bad) ──> api-access-logs.dlq
      <app>-events-by-account ── score_rekeyed ──┤   (events keyed otherwise are re-keyed)
      feedback ─────────────────── apply_feedback ─┤ ──> account-risk, alerts ──> PostgreSQL
      <app>-group-verdicts ─────── apply_verdicts ─┘     (persister, its own consumer group)
           │ links (link key, member summary)          │ learning deltas
           v                                           v
    group stage, merge_groups (key: link key)      learner, learn_population (one partition)
      <app>-group-links ──> group states             <app>-learn ──> <app>-learned-state
      (RocksDB, changelogged)                        (compacted), which every worker reads
      ──> <app>-group-verdicts (key: account)        (LearnedTable)

Each stage is one task over its topics' records, taken in whole fetched chunks from Faust's
consumer (stream/batches/), and runs the same checkpointed batch loop (stream/agents/stage.py):
handle a batch, flush the stage's state once and send its outputs, await every delivery, then
ack. Nothing a worker learns lives only in its memory: profiles, seen ids and group states are
changelogged tables; the population's learned state (norms, river models, release times,
feedback weights, calibration) is a global table. `score`, `demo` and `eval` run the same
stages in one process (models/topology.py).
"""

from __future__ import annotations

import asyncio
import logging

import faust
from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.learned import LearnDelta, Learned
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream import codecs
from distillguard.stream.agents.checkpoint import Checkpoint
from distillguard.stream.agents.learn_population import (
    LEARN_BATCH,
    LEARN_WITHIN_S,
    LearnerStage,
    learn_population,
)
from distillguard.stream.agents.merge_groups import GroupStage, merge_groups
from distillguard.stream.agents.rekey import Partitioner
from distillguard.stream.agents.score_accounts import score_accounts
from distillguard.stream.agents.stage import AccountStage
from distillguard.stream.batches.consumer import BatchApp
from distillguard.stream.collector import collect_less
from distillguard.stream.config import Settings
from distillguard.stream.intake.formats import account_attribute_list, input_formats
from distillguard.stream.kafka_security import faust_kwargs
from distillguard.stream.keyed_store import Codec, KeyedStore
from distillguard.stream.lag import EndOffsets, measure_lag
from distillguard.stream.learned_table import LearnedTable
from distillguard.stream.offset_gaps import OffsetGapDetector
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.seen_table import SeenEvents, seen_table
from distillguard.stream.services import side_services
from distillguard.stream.topics import TopicNames, ensure_topics
from prometheus_client import start_http_server

log = logging.getLogger("distillguard.worker")
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


def make_app(settings: Settings, partitions: int) -> BatchApp:
    return BatchApp(
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
        table_standby_replicas=settings.standby_replicas,
        **faust_kwargs(settings),
    )


def rocksdb_options(settings: Settings) -> dict:
    """Per-partition RocksDB sizes: Faust's defaults (a 2 GiB block cache and three 64 MiB
    memtables per partition) would let the cache alone outgrow the memory budget."""
    return {"driver": "rocksdict", "block_cache_size": settings.rocksdb_cache_mb << 20,
            "write_buffer_size": 16 << 20, "max_write_buffer_number": 2}


def keyed_store(app: faust.App, settings: Settings, name: str, partitions: int,
                partition_of: Partitioner, codec: Codec) -> KeyedStore:
    """A keyed stage's table: RocksDB per partition, a compacted changelog, write-back cache."""
    table = app.Table(name, default=None, partitions=partitions,
                      changelog_topic=app.topic(f"{settings.app_id}-{name}-changelog",
                                                partitions=partitions, compacting=True,
                                                deleting=False, internal=True, **RAW),
                      key_type=bytes, value_type=bytes, use_partitioner=True,
                      options=rocksdb_options(settings))
    table.key_serializer = table.value_serializer = "raw"
    return KeyedStore(table, partition_of, codec, idle_s=settings.profile_idle_s)


def account_stage(app: faust.App, settings: Settings, metrics: Metrics, names: TopicNames,
                  partitions: int, gaps: OffsetGapDetector, learned: LearnedTable) -> AccountStage:
    """Profiles and seen event ids, one engine that learns into a delta per batch."""
    partition_of = Partitioner(partitions)
    profiles = keyed_store(app, settings, "account-profiles", partitions, partition_of,
                           codecs.PROFILES)
    seen = SeenEvents(seen_table(app, partitions, settings.dedup_window_s,
                                 rocksdb_options(settings)),
                      partition_of, settings.dedup_window_s)
    outputs, dead_letters = ListSink(), ListSink()
    engine = Engine(profiles, EngineConfig(settings.score_every, settings.score_interval_s),
                    learned=Learned(settings.feedback_min_labels), learn=LearnDelta(), seen=seen)
    pipeline = Pipeline(engine, metrics, dead_letters, outputs,
                        account_attributes=account_attribute_list(settings.account_attributes))
    return AccountStage(engine=engine, profiles=profiles, pipeline=pipeline,
                        formats=input_formats(names.input, settings.input_format,
                                              settings.extra_inputs),
                        outputs=outputs, dead_letters=dead_letters,
                        checkpoint=Checkpoint(app, [profiles, seen]), partition_of=partition_of,
                        gaps=gaps, names=names, metrics=metrics, learned_table=learned,
                        batch_max=settings.batch_max, batch_within_s=settings.batch_within_s)


def group_stage(app: faust.App, settings: Settings, metrics: Metrics, names: TopicNames,
                partitions: int, gaps: OffsetGapDetector) -> GroupStage:
    partition_of = Partitioner(partitions)
    groups = keyed_store(app, settings, "group-state", partitions, partition_of, codecs.GROUPS)
    return GroupStage(groups=groups, partition_of=partition_of, gaps=gaps, names=names,
                      checkpoint=Checkpoint(app, [groups]), metrics=metrics,
                      batch_max=settings.batch_max, batch_within_s=settings.batch_within_s)


def run_stage(app: BatchApp, topic, fun, stage) -> None:
    """Run `fun(stage, sink)` as the one task of a stage over the records of `topic`; a failure
    stops the worker (its batch stays unacked, so another worker re-reads it)."""
    sink = app.batch_sink(topic)
    stage.name = fun.__name__

    async def run() -> None:
        try:
            await fun(stage, sink)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.critical("%s failed: %s: %s", fun.__name__, type(err).__name__, err)
            await app.crash(err)
            raise
    run.__name__ = run.__qualname__ = fun.__name__
    app.task(run)


def build_app(settings: Settings, metrics: Metrics) -> faust.App:
    names = TopicNames.of(settings)
    formats = input_formats(names.input, settings.input_format, settings.extra_inputs)
    extra_inputs = [t for t in formats if t != names.input]  # more input topics, other formats
    counts = ensure_topics(settings.broker, [*names.all(), *extra_inputs], settings.partitions,
                           settings.replication_factor, single=names.single())
    partitions = counts[names.input]
    for co_partitioned in (names.by_account, names.feedback, names.group_verdicts,
                           names.group_links):  # keyed like the tables they update
        if counts[co_partitioned] != partitions:
            raise RuntimeError(f"{co_partitioned} has {counts[co_partitioned]} partitions, "
                               f"{names.input} has {partitions}: they must match")
    app = make_app(settings, partitions)
    gaps = OffsetGapDetector(app.consumer, metrics)
    stage = account_stage(app, settings, metrics, names, partitions, gaps,
                          learned := LearnedTable(settings, names.learned,
                                                  on_update=lambda new: None))
    groups = group_stage(app, settings, metrics, names, partitions, gaps)
    learner = LearnerStage(table=learned, names=names, checkpoint=Checkpoint(app, []), gaps=gaps,
                           metrics=metrics, feedback_min_labels=settings.feedback_min_labels,
                           batch_max=LEARN_BATCH, batch_within_s=LEARN_WITHIN_S)
    learned.on_update = stage.use_learned
    topic = lambda *topics, n=partitions: app.topic(*topics, partitions=n, **RAW)  # noqa: E731
    run_stage(app, topic(names.input, *extra_inputs, names.by_account, names.feedback,
                         names.group_verdicts), score_accounts, stage)
    run_stage(app, topic(names.group_links), merge_groups, groups)
    run_stage(app, topic(names.learn, n=1), learn_population, learner)

    @app.task
    async def follow_learned_state():
        """Every worker follows the learned state the learner publishes."""
        try:
            await learned.follow()
        finally:
            await learned.stop()

    consumed = (names.input, *extra_inputs, names.by_account, names.group_links,
                names.group_verdicts, names.learn)
    ends = EndOffsets(settings)

    @app.task
    async def close_end_offsets():
        try:
            await asyncio.Event().wait()
        finally:
            await ends.stop()

    @app.timer(interval=settings.lag_interval_s)
    async def measure():
        """Consumer lag per owned partition, and how many profiles this worker holds."""
        try:
            await measure_lag(app.consumer, ends, gaps, metrics, consumed,
                              (names.input, *extra_inputs))
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
    collect_less()
    metrics = Metrics()
    app = build_app(settings, metrics)  # topics exist before /metrics says "up"
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host,
                          registry=metrics.registry)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
