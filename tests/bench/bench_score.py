"""Throughput of `distillguard score` on a simulated file, as a ratio to a parse-only pass over the
same file measured in the same run (absolute numbers on shared 2-core machines are noisy).

    .venv/bin/python -m tests.bench.bench_score [--events 100000] [--repeat 3] [--text-free]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distillguard.sinks.base import ListSink
from distillguard.stream.intake import parse_event
from distillguard.stream.replay import replay_file


def best_of(repeat: int, fn) -> float:
    return min(_timed(fn) for _ in range(repeat))


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--text-free", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    path = tmp / "events.jsonl"
    cmd = [sys.executable, "-m", "distillguard.stream.cli", "simulate", "--out", str(path), "--events",
           str(args.events), "--accounts", str(max(60, args.events // 300)), "--seed", "11"]
    subprocess.run(cmd + (["--text-free"] if args.text_free else []), check=True)
    lines = path.read_bytes().splitlines()
    n = len(lines)

    def json_only():
        for line in lines:
            json.loads(line)

    def parse_only():
        now = time.time()
        for line in lines:
            parse_event(line, now)

    def score():
        replay_file(path, ListSink(), tmp / "events.dlq.jsonl", progress=False)

    t_json = best_of(args.repeat, json_only)
    t_parse = best_of(args.repeat, parse_only)
    t_score = best_of(args.repeat, score)
    rows = [("json.loads only", t_json), ("parse + validate (contract)", t_parse),
            ("score (parse, dedup, profile, detectors)", t_score)]
    print(f"\n{n} events, best of {args.repeat}, {'text-free' if args.text_free else 'with text'}")
    print(f"{'pass':<44}{'events/s':>12}{'vs parse-only':>16}")
    for name, t in rows:
        print(f"{name:<44}{n / t:>12,.0f}{t_parse / t:>15.2f}x")


if __name__ == "__main__":
    main()
