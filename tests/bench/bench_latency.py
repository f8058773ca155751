"""End-to-end latency at a steady rate: one worker (PostgreSQL sink on) takes `--rate` events/s
for `--seconds`; how long from producing an event to its account's row in PostgreSQL showing
that event counted, and how long the consumer lag takes to return to 0 once the load stops.
Needs the broker and an admin PostgreSQL URL (each run gets a scratch database).

    .venv/bin/python -m tests.bench.bench_latency --broker 127.0.0.1:9092 \
        --database-url postgresql+psycopg2://... [--rate 4000] [--seconds 60]

Latency of a row = when a poll (every 50 ms) first sees the account's `seq` reach n, minus when
the account's n-th distinct event was produced. Rows move when an account is scored (every 25
events or an hour of event time), so every scoring event is one sample. A group verdict also
rescores an account: that row counts from the account's last own event, which may be long before,
so the output splits the rows by kind (`--rows-csv` writes them all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from distillguard.stream.config import Settings
from distillguard.stream.simulate.generator import SimConfig, generate

from tests.bench.bench_worker import pct
from tests.helpers import scratch_database
from tests.integration.test_lag_gauge import LAG, backlog
from tests.integration.worker_proc import WorkerProcess


async def produce(broker: str, topic: str, events: list[dict], rate: int, seconds: float,
                  sent_at: dict[str, list[float]]) -> int:
    encode = msgspec.json.Encoder().encode
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=5)
    await producer.start()
    tick, sent = 0.01, 0
    started = time.perf_counter()
    try:
        while sent < len(events) and time.perf_counter() - started < seconds:
            due = min(len(events), int((time.perf_counter() - started) * rate))
            while sent < due:
                e = events[sent]
                await producer.send(topic, key=e["account_id"].encode(), value=encode(e))
                sent_at[e["account_id"]].append(time.time())
                sent += 1
            await asyncio.sleep(tick)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def poll_rows(url: str, seen: dict[tuple[str, int], float], stop: threading.Event,
              grouped: set[tuple[str, int]]) -> None:
    """When each (account, seq) row first shows; `grouped`: those that then carried a group
    reason (a row that a group verdict moved, not the account's own event)."""
    engine = sa.create_engine(url)
    query = sa.text("SELECT account_id, seq, position('hydra_cluster' in reasons::text) > 0 "
                    "FROM account_risk")
    try:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    rows = conn.execute(query).all()
            except sa.exc.ProgrammingError:  # not migrated yet
                rows = []
            now = time.time()
            for account, seq, group_reason in rows:
                if (account, seq) not in seen:
                    seen[(account, seq)] = now
                    if group_reason:
                        grouped.add((account, seq))
            stop.wait(0.05)
    finally:
        engine.dispose()


def watch_lag(worker: WorkerProcess, samples: list[float], stop: threading.Event) -> None:
    """The worker's own lag gauge, every half second, while the load runs."""
    while not stop.is_set():
        with contextlib.suppress(OSError):
            samples.append(sum(v for k, v in worker.metrics().items() if k.startswith(LAG)))
        stop.wait(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--database-url", required=True, help="admin URL of PostgreSQL")
    ap.add_argument("--rate", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--rows-csv", type=Path, help="write every row's latency here, to study the tail")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a worker setting, e.g. --set batch_within_s=0.05")
    args = ap.parse_args()
    settings = dict(kv.split("=", 1) for kv in args.set)
    n = int(args.rate * args.seconds)
    _, stream = generate(SimConfig(events=n, accounts=args.accounts, seed=31,
                                   hours=max(1.0, args.seconds / 60)))
    events = list(stream)[:n]
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-latency-"))
    sent_at: dict[str, list[float]] = defaultdict(list)
    seen: dict[tuple[str, int], float] = {}
    grouped: set[tuple[str, int]] = set()
    phases: dict[str, float] = {}
    with scratch_database(args.database_url) as url:
        worker = WorkerProcess(args.broker, url, tmp, **settings)
        worker.start()
        stop = threading.Event()
        poller = threading.Thread(target=poll_rows, args=(url, seen, stop, grouped), daemon=True)
        poller.start()
        lags: list[float] = []
        load_done = threading.Event()
        watcher = threading.Thread(target=watch_lag, args=(worker, lags, load_done), daemon=True)
        try:
            # ready: the persister migrated and joined its group, the stages own the input
            worker.wait_for(lambda m: m.get('distillguard_sink_assignments_total{sink=store}', 0)
                            and any(k.startswith(LAG) and worker.input_topic in k for k in m),
                            timeout_s=120, what="the worker and its persister ready")
            t0 = time.perf_counter()
            t0_wall = time.time()
            watcher.start()
            sent = asyncio.run(produce(args.broker, worker.input_topic, events, args.rate,
                                       args.seconds, sent_at))
            load_s = time.perf_counter() - t0
            load_done.set()
            stopped = time.perf_counter()
            drained_at = None
            while time.perf_counter() - stopped < 120:
                gauge = sum(v for k, v in worker.metrics().items() if k.startswith(LAG))
                if backlog(args.broker, worker) == 0 and gauge == 0:
                    drained_at = time.perf_counter() - stopped
                    break
                time.sleep(0.2)
            time.sleep(2)  # the last rows
            phases = {k: v for k, v in worker.metrics().items()
                      if k.startswith("distillguard_stage_seconds_total")}
        finally:
            stop.set()
            poller.join()
            worker.stop()
    rows = sorted((seen_at - sent_at[account][seq - 1], account, seq, seen_at - t0_wall)
                  for (account, seq), seen_at in seen.items()
                  if 0 < seq <= len(sent_at.get(account, ())))
    latencies = [r[0] for r in rows]
    if args.rows_csv:
        with args.rows_csv.open("w") as out:
            out.write("latency_s,account_id,seq,events_sent,seen_after_start_s,group_reason\n")
            for latency, account, seq, at in rows:
                out.write(f"{latency:.3f},{account},{seq},{len(sent_at[account])},{at:.2f},"
                          f"{int((account, seq) in grouped)}\n")
    for latency, account, seq, at in rows[-3:]:
        print(f"slowest: {account} seq {seq} of {len(sent_at[account])}: {latency:.2f} s, "
              f"row seen {at:.1f} s after the load started"
              + (", with a group reason" if (account, seq) in grouped else ""))
    print(f"\nproduced {sent} events in {load_s:.1f} s ({sent / load_s:,.0f}/s) to one worker "
          f"(PostgreSQL sink on), {args.accounts} accounts")
    if latencies:
        print(f"produce -> row in PostgreSQL, {len(latencies)} rows: p50 {pct(latencies, 0.5):.2f} s"
              f", p90 {pct(latencies, 0.9):.2f} s, p99 {pct(latencies, 0.99):.2f} s, "
              f"max {latencies[-1]:.2f} s")
    every = int(settings.get("score_every", Settings.score_every))  # cadence: 1, 1 + every, ...
    kinds: dict[str, list[float]] = defaultdict(list)
    for latency, _, seq, _ in rows:
        kinds["first event" if seq == 1 else f"every {every}th event" if (seq - 1) % every == 0
              else "other (after an hour of event time, or a group verdict's rescore)"
              ].append(latency)
    for kind, values in sorted(kinds.items()):
        print(f"  {kind}: {len(values)} rows, p50 {pct(values, 0.5):.2f} s, "
              f"p99 {pct(values, 0.99):.2f} s")
    slow = [(account, seq) for latency, account, seq, _ in rows if latency > 2.0]
    if slow:
        print(f"rows over 2 s: {len(slow)}, of them {sum(r in grouped for r in slow)} with a "
              f"group reason")
    if lags:
        print(f"consumer lag during the load (gauge, every 0.5 s): median "
              f"{pct(sorted(lags), 0.5):,.0f}, max {max(lags):,.0f}")
    for name, value in sorted(phases.items()):
        print(f"worker {name.split('{', 1)[1].rstrip('}')}: {value:.1f} s")
    print("consumer lag back to 0: " + (f"{drained_at:.1f} s after the load stopped"
                                        if drained_at is not None else "not within 120 s"))


if __name__ == "__main__":
    main()
