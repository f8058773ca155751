"""Throughput of the Kafka worker (`distillguard run`) against baselines measured in the same run
on the same pre-loaded topic. Needs the broker (`bash deploy/kafka.sh start`) and, for the
PostgreSQL sink, `--database-url` (an admin URL: each run gets a scratch database).

    .venv/bin/python -m tests.bench.bench_worker [--events 100000] [--broker 127.0.0.1:9092] \
        [--database-url postgresql+psycopg2://...]

Passes: a bare aiokafka consume + json.loads loop; a Faust app that only parses, with the
worker's app settings and its iteration style (whole fetched chunks, stream/batches/), and one
with Faust's stream API (noack_take; tests/bench/parse_only_worker.py); `score` (the file
replay) on the same events; the worker alone; two workers. Rate = events / (last - first
processed), so start-up and rebalancing are not counted. Also prints the size of the profiles
as stored in the changelog (latest record per account), read back from the topic, and for the
worker passes where the CPU went (workers, broker, PostgreSQL, the rest: tests/bench/cpu_share.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.sinks.base import ListSink
from distillguard.stream.replay import replay_file
from distillguard.stream.simulate.generator import SimConfig, generate
from kafka.admin import KafkaAdminClient, NewTopic

from tests.bench.cpu_share import describe, sample
from tests.helpers import scratch_database
from tests.integration.worker_proc import WorkerProcess

SCORED = "distillguard_events_scored_total"
steady: list[float] = []  # drain()'s steady rates, in call order
cpu: list[str] = []       # drain()'s CPU lines (tests/bench/cpu_share.py), in call order
STAGE_SECONDS = "distillguard_stage_seconds_total{"


def stage_seconds(w: WorkerProcess) -> dict[str, float]:
    """The worker's seconds per stage and phase so far ('stage phase' -> s)."""
    out = {}
    for name, value in w.metrics().items():
        if name.startswith(STAGE_SECONDS):
            labels = dict(kv.split("=", 1) for kv in name[len(STAGE_SECONDS):-1].split(","))
            out[f"{labels['stage']} {labels['phase']}"] = value
    return out


def stage_shares(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Per stage, the share of the interval spent waiting / handling / committing."""
    stages: dict[str, list[str]] = {}
    for key in sorted(after):
        stage, phase = key.split(" ")
        share = (after[key] - before.get(key, 0.0)) / seconds
        stages.setdefault(stage, []).append(f"{phase} {share:.0%}")
    return "; ".join(f"{stage}: {', '.join(parts)}" for stage, parts in stages.items())


async def fill(broker: str, topic: str, lines: list[bytes], keys: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for key, value in zip(keys, lines, strict=True):
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def raw_consume(broker: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                                group_id=f"bench-raw-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in batch.values():
                for msg in msgs:
                    json.loads(msg.value)
            got = sum(len(v) for v in batch.values())
            if got and started is None:
                started = time.perf_counter()
            seen += got
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def drain(workers: list[WorkerProcess], n: int) -> float:
    """Start the workers on the pre-loaded topic; events/s from the moment every worker is
    processing (so a rebalance when the second joins is not counted) to the last processed.
    Also records the steady rate, between 15% and 85% of what was left then (`steady`): with
    several workers the tail is one worker finishing its heavier partitions alone."""
    for w in workers:
        w.start()
    try:
        counts = lambda: [w.metrics().get(SCORED, 0) for w in workers]  # noqa: E731
        deadline = time.monotonic() + 900
        now = counts()
        while not all(c > 0 for c in now):
            if time.monotonic() > deadline or sum(now) >= n:
                raise TimeoutError(f"not every worker processed before the end: {now}")
            time.sleep(0.1)
            now = counts()
        n_first, t_first = sum(now), time.perf_counter()
        cpu_before = sample(w.proc.pid for w in workers)
        phases_before = [stage_seconds(w) for w in workers]
        low, high = n_first + 0.15 * (n - n_first), n_first + 0.85 * (n - n_first)
        marks: dict[str, tuple[float, float]] = {}
        while (done := sum(counts())) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {done} of {n} processed")
            for name, bound in (("low", low), ("high", high)):
                if done >= bound and name not in marks:
                    marks[name] = (done, time.perf_counter())
            time.sleep(0.2)
        seconds = time.perf_counter() - t_first
        cpu.append(describe(cpu_before, sample(w.proc.pid for w in workers), seconds) + "".join(
            f"\n  worker {i + 1}: {stage_shares(b, stage_seconds(w), seconds)}"
            for i, (w, b) in enumerate(zip(workers, phases_before, strict=True))))
        if len(marks) == 2:
            steady.append((marks["high"][0] - marks["low"][0])
                          / (marks["high"][1] - marks["low"][1]))
        return (n - n_first) / seconds
    finally:
        for w in workers:
            w.stop()


async def changelog_sizes(broker: str, topic: str) -> list[int]:
    """Size of the latest record per key of a (compacted) changelog topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        from aiokafka import TopicPartition
        admin = KafkaAdminClient(bootstrap_servers=broker)
        try:
            partitions = range(len(admin.describe_topics([topic])[0]["partitions"]))
        finally:
            admin.close()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        latest: dict[bytes, int] = {}
        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                for msg in msgs:
                    latest[msg.key] = len(msg.value or b"")
        return sorted(latest.values())
    finally:
        await consumer.stop()


def pct(values: list[int], q: float) -> int:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=300)
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--partitions", type=int, default=4, help="of the input topic")
    ap.add_argument("--database-url", help="admin URL of PostgreSQL (default: temporary SQLite)")
    ap.add_argument("--skip", default="", help="comma-separated passes to skip: two")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=VALUE",
                    help="also run one worker with this setting (e.g. batch_max=1000), in turn "
                         "with the default one, to A/B a setting within one run")
    args = ap.parse_args()
    _, stream = generate(SimConfig(events=args.events, accounts=args.accounts, seed=21))
    encode = msgspec.json.Encoder().encode
    events = list(stream)
    lines = [encode(e) for e in events]
    keys = [e["account_id"].encode() for e in events]
    n = len(lines)
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-worker-"))
    path = tmp / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    topic = f"bench-{uuid.uuid4().hex[:8]}-events"

    def timed(name: str, rate: float) -> None:
        rates[name] = rate
        print(f"{name}: {rate:,.0f} events/s", flush=True)

    def timed_workers(name: str, rate: float) -> None:
        timed(name, rate)
        cpu_lines[name] = cpu[-1]

    def worker(name: str, url: str, **extra) -> WorkerProcess:
        (tmp / name).mkdir()
        w = WorkerProcess(args.broker, url, tmp / name, partitions=args.partitions, **extra)
        w.input_topic = topic
        w.env["DISTILLGUARD_INPUT_TOPIC"] = topic
        return w

    @contextlib.contextmanager
    def database():
        if args.database_url:
            with scratch_database(args.database_url) as url:
                yield url
        else:
            yield f"sqlite:///{tmp}/store-{uuid.uuid4().hex[:6]}.sqlite"

    rates: dict[str, float] = {}
    cpu_lines: dict[str, str] = {}
    t0 = time.perf_counter()
    admin = KafkaAdminClient(bootstrap_servers=args.broker)
    admin.create_topics([NewTopic(topic, args.partitions, 1)])
    admin.close()
    asyncio.run(fill(args.broker, topic, lines, keys))
    print(f"filled {topic} with {n} events in {time.perf_counter() - t0:.1f}s")
    timed("aiokafka consume + json.loads", asyncio.run(raw_consume(args.broker, topic, n)))
    timed("faust parse-only (same loop)",
          drain([worker("parse", "sqlite://", module="tests.bench.parse_only_worker",
                        args=("batches",))], n))
    timed("faust parse-only (noack_take)",
          drain([worker("parse-stream", "sqlite://", module="tests.bench.parse_only_worker",
                        args=("noack_take",))], n))
    started = time.perf_counter()
    replay_file(path, ListSink(), tmp / "events.dlq.jsonl", progress=False)
    timed("score (file replay)", n / (time.perf_counter() - started))
    with database() as url:
        one = worker("one", url)
        timed_workers("worker x1 (sink on)", drain([one], n))
        one_steady = steady[-1]
        sizes = asyncio.run(changelog_sizes(
            args.broker, f"{one.env['DISTILLGUARD_APP_ID']}-account-profiles-changelog"))
    for i, setting in enumerate(args.compare):
        name, value = setting.split("=", 1)
        for j, (label, extra) in enumerate(((f"worker x1 ({setting}) #{i + 1}", {name: value}),
                                            (f"worker x1 (default) #{i + 1}", {}))):
            with database() as url:
                timed_workers(label, drain([worker(f"compare-{i}-{j}", url, **extra)], n))
    if "two" not in args.skip:
        with database() as url:
            first = worker("two-a", url)
            second = first.twin(tmp / "two-b")
            (tmp / "two-b").mkdir()
            timed_workers("worker x2 (sink on)", drain([first, second], n))
            two_steady = steady[-1]
    base = rates["faust parse-only (same loop)"]
    print(f"\n{n} events, {args.accounts}+ accounts; sink: "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"{'pass':<36}{'events/s':>10}{'vs faust parse':>16}{'vs score':>10}{'vs aiokafka':>13}")
    for name, rate in rates.items():
        print(f"{name:<36}{rate:>10,.0f}{rate / base:>15.2f}x"
              f"{rate / rates['score (file replay)']:>9.2f}x"
              f"{rate / rates['aiokafka consume + json.loads']:>12.3f}x")
    if "worker x2 (sink on)" in rates:
        print(f"two workers / one: {rates['worker x2 (sink on)'] / rates['worker x1 (sink on)']:.2f}x"
              f" to the last event; {two_steady / one_steady:.2f}x steady ({two_steady:,.0f} vs "
              f"{one_steady:,.0f} events/s between 15% and 85% of the backlog)")
    for name, line in cpu_lines.items():
        print(f"{name}: {line}")
    print(f"profile changelog record: {len(sizes)} accounts, p50 {pct(sizes, 0.5)} B, "
          f"p99 {pct(sizes, 0.99)} B, mean {statistics.mean(sizes):.0f} B")


if __name__ == "__main__":
    main()
