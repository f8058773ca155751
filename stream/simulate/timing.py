"""When simulated accounts send requests: diurnal, bursty, sporadic or scripted."""

from __future__ import annotations

import math
import random

HOUR = 3600.0


def diurnal(rng: random.Random, n: int, start: float, duration: float,
            peak_hour: float = 14.0, width: float = 3.5) -> list[float]:
    """Human working pattern: most requests within a few hours of `peak_hour` UTC. A window
    that misses those hours (a short simulation) gets what it can, the rest spread evenly."""
    out: list[float] = []
    days = max(1, math.ceil(duration / 86400))
    for _ in range(50 * n):
        if len(out) >= n:
            break
        day = rng.randrange(days)
        hour = rng.gauss(peak_hour, width) % 24
        ts = start - start % 86400 + day * 86400 + hour * HOUR
        if start <= ts < start + duration:
            out.append(ts)
    out += [start + rng.random() * duration for _ in range(n - len(out))]
    return sorted(out)


def uniform(rng: random.Random, n: int, start: float, duration: float) -> list[float]:
    return sorted(start + rng.random() * duration for _ in range(n))


def scripted(rng: random.Random, n: int, start: float, duration: float,
             jitter: float = 0.1) -> list[float]:
    """A client in a loop: evenly spaced with a little jitter, around the clock."""
    step = duration / max(n, 1)
    return [start + i * step + rng.uniform(-jitter, jitter) * step for i in range(n)]


def bursts(rng: random.Random, n: int, start: float, duration: float,
           n_bursts: int = 4, burst_s: float = 1800.0) -> list[float]:
    """Runs of dense traffic (an eval harness launching suites), quiet in between."""
    starts = [start + rng.random() * max(duration - burst_s, 1.0) for _ in range(n_bursts)]
    return sorted(rng.choice(starts) + rng.random() * burst_s for _ in range(n))


def window(rng: random.Random, n: int, start: float, duration: float,
           from_hour: float, to_hour: float) -> list[float]:
    """A job that runs only between two hours of the day (UTC), every day."""
    days = max(1, math.ceil(duration / 86400))
    out: list[float] = []
    while len(out) < n:
        ts = start - start % 86400 + rng.randrange(days) * 86400 + rng.uniform(
            from_hour, to_hour) * HOUR
        if start <= ts < start + duration:
            out.append(ts)
    return sorted(out)
