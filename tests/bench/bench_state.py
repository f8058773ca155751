"""State at scale: RSS of one worker holding N accounts, the size of their changelog records,
and how long a SIGKILLed worker takes to score again. Needs the broker.

    .venv/bin/python -m tests.bench.bench_state --accounts 100000 [--events-per-account 2] \
        [--broker 127.0.0.1:9092]

Each account sends a few chat-like events (the topic is filled first); once all are scored the
worker's VmRSS is read from /proc, the profile changelog is read back (latest record per key),
the worker is SIGKILLed and started again, and the time until a new event is scored is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from tests.bench.bench_worker import SCORED, changelog_sizes, fill, pct
from tests.helpers import BASE_TS
from tests.integration.worker_proc import WorkerProcess


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def account_events(i: int, k: int) -> list[dict]:
    acct = f"acct-{i:07d}"
    return [{"event_id": f"{acct}-{j}", "timestamp": BASE_TS + (i % 3600) * 1000 + j * 60_000,
             "account_id": acct, "api_key_id": f"k{i % 97}", "source_ip": f"10.{i % 250}.{j}.1",
             "user_agent": "openai-python/1.54.3", "model": "large-2", "input_tokens": 300 + j,
             "output_tokens": 200 + i % 80, "params": {"temperature": 0.7},
             "prompt": {"sha256": f"{i:032x}{j:032x}", "simhash": f"{(i * 7919 + j):016x}",
                        "chars": 400, "messages": 2}} for j in range(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--events-per-account", type=int, default=2)
    ap.add_argument("--broker", default="127.0.0.1:9092")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-state-"))
    worker = WorkerProcess(args.broker, f"sqlite:///{tmp}/s.sqlite", tmp, sink_enabled="false")
    events = [e for i in range(args.accounts) for e in account_events(i, args.events_per_account)]
    n = len(events)
    t0 = time.perf_counter()
    asyncio.run(fill(args.broker, worker.input_topic, [json.dumps(e).encode() for e in events],
                     [e["account_id"].encode() for e in events]))
    print(f"filled {n} events for {args.accounts} accounts in {time.perf_counter() - t0:.0f}s",
          flush=True)
    worker.start()
    try:
        t0 = time.perf_counter()
        worker.wait_for(lambda m: m[SCORED] >= n, timeout_s=3600, what="all scored")
        print(f"scored {n} in {time.perf_counter() - t0:.0f}s; worker RSS "
              f"{rss_mib(worker.proc.pid):.0f} MiB", flush=True)
        time.sleep(3)  # the last checkpoint's commit
        worker.kill()
        sizes = asyncio.run(changelog_sizes(
            args.broker, f"{worker.env['DISTILLGUARD_APP_ID']}-account-profiles-changelog"))
        print(f"profile changelog record: {len(sizes)} accounts, p50 {pct(sizes, 0.5)} B, "
              f"p99 {pct(sizes, 0.99)} B", flush=True)
        t0 = time.perf_counter()
        worker.start(timeout_s=600)
        probe = account_events(args.accounts + 1, 1)
        asyncio.run(fill(args.broker, worker.input_topic, [json.dumps(probe[0]).encode()],
                         [probe[0]["account_id"].encode()]))
        worker.wait_for(lambda m: m.get(SCORED, 0) >= 1, timeout_s=900, what="scoring again")
        print(f"after SIGKILL: restarted and scoring a new event in {time.perf_counter() - t0:.1f}s;"
              f" RSS {rss_mib(worker.proc.pid):.0f} MiB", flush=True)
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
