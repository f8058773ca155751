"""Throughput of the Kafka worker (`distillguard run`) against a raw aiokafka consume of the same
topic in the same run. Needs the broker: `bash deploy/kafka.sh start`.

    .venv/bin/python -m tests.bench.bench_worker [--events 100000] [--broker 127.0.0.1:9092]

The topic is filled first; the worker then drains it. Rate = events / (last scored - first
scored), so start-up and rebalancing are not counted (they are printed separately).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.stream.simulate.generator import SimConfig, generate

from tests.integration.worker_proc import WorkerProcess


async def fill(broker: str, topic: str, events: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    encode = msgspec.json.Encoder().encode
    try:
        for e in events:
            await producer.send(topic, key=e["account_id"].encode(), value=encode(e))
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
            got = sum(len(v) for v in batch.values())
            if got and started is None:
                started = time.perf_counter()
            seen += got
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--database-url", help="store for the sink (default: a temporary SQLite)")
    ap.add_argument("--no-sink", action="store_true",
                    help="score only: no store, no decider (isolates the Faust path)")
    args = ap.parse_args()
    _, stream = generate(SimConfig(events=args.events, accounts=300, seed=21))
    events = list(stream)
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-worker-"))
    extra = {"sink_enabled": "false"} if args.no_sink else {}
    url = args.database_url or f"sqlite:///{tmp}/store.sqlite"
    worker = WorkerProcess(args.broker, url, tmp, **extra)
    t0 = time.perf_counter()
    asyncio.run(fill(args.broker, worker.input_topic, events))
    print(f"filled {worker.input_topic} with {len(events)} events in {time.perf_counter() - t0:.1f}s")
    raw_rate = asyncio.run(raw_consume(args.broker, worker.input_topic, len(events)))
    started = time.perf_counter()
    worker.start()
    try:
        first = worker.wait_for(lambda m: m["distillguard_events_scored_total"] > 0,
                                timeout_s=120, what="first event scored")
        t_first = time.perf_counter()
        n_first = first["distillguard_events_scored_total"]
        worker.wait_for(lambda m: m["distillguard_events_scored_total"] >= len(events),
                        timeout_s=900, what="all events scored")
        t_last = time.perf_counter()
    finally:
        worker.stop()
    rate = (len(events) - n_first) / (t_last - t_first)
    print(f"worker start-up to first scored event: {t_first - started:.1f}s")
    print(f"{'pass':<40}{'events/s':>12}{'vs raw consume':>16}")
    print(f"{'aiokafka raw consume (baseline)':<40}{raw_rate:>12,.0f}{1.0:>15.2f}x")
    print(f"{'distillguard worker (score+changelog)':<40}{rate:>12,.0f}{rate / raw_rate:>15.3f}x")


if __name__ == "__main__":
    main()
