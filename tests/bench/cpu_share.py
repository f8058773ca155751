"""Where a benchmark's CPU went, read from /proc (Linux): the machine's busy share and the cores
used by the workers, the Kafka broker, PostgreSQL and everything else over an interval. On a
2-core machine this says whether more workers can go faster at all: when the machine is busy,
a second worker can only take cores from the broker, the database and the first worker."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot."""
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _processes() -> Iterable[tuple[int, int, int, str]]:
    """(pid, parent pid, utime + stime ticks, command line) of every live process."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        rest = stat[stat.rindex(")") + 2:].split()  # fields after "(comm)", from state on
        yield int(entry.name), int(rest[1]), int(rest[11]) + int(rest[12]), cmdline


def _category(pid: int, parents: dict[int, int], roots: set[int], cmdline: str) -> str:
    p = pid
    while p > 1:
        if p in roots:
            return "workers"
        p = parents.get(p, 0)
    if "kafka" in cmdline and "java" in cmdline:
        return "broker"
    if "postgres" in cmdline:
        return "postgres"
    return "other"


@dataclass
class CpuSample:
    busy: int
    total: int
    by_category: dict[str, int] = field(default_factory=dict)


def sample(worker_pids: Iterable[int]) -> CpuSample:
    """CPU ticks so far, per category; workers are `worker_pids` and their descendants."""
    procs = list(_processes())
    parents = {pid: ppid for pid, ppid, _, _ in procs}
    roots = set(worker_pids)
    busy, total = _machine_ticks()
    out = CpuSample(busy, total)
    for pid, _, ticks, cmdline in procs:
        cat = _category(pid, parents, roots, cmdline)
        out.by_category[cat] = out.by_category.get(cat, 0) + ticks
    return out


def describe(before: CpuSample, after: CpuSample, seconds: float) -> str:
    """One line: machine busy share and cores per category over the interval. Processes that
    started or ended inside the interval count for the part they were seen in."""
    cpus = os.cpu_count() or 1
    busy = (after.busy - before.busy) / max(after.total - before.total, 1)
    cores = {cat: (after.by_category.get(cat, 0) - before.by_category.get(cat, 0))
             / TICKS / seconds for cat in ("workers", "broker", "postgres", "other")}
    parts = ", ".join(f"{cat} {max(c, 0.0):.2f}" for cat, c in cores.items())
    return f"machine {busy:.0%} busy of {cpus} cores; cores used: {parts}"
