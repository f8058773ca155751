"""Baselines, run on the same events in the same pass as ours.

- RateLimit: a per-account requests-per-minute limit (what most APIs have). Score: peak RPM.
- PRADA (Juuti et al., 2019), adapted: per account, the minimum Hamming distance of each new
  prompt simhash to the account's earlier prompts; attacks make that distribution depart from
  normal. Score: 1 - Shapiro-Wilk W over the distances (PRADA alerts when W < delta).
- VolumeHST: river HalfSpaceTrees on per-account volume features only (rate, tokens).
Each exposes `update(event)`, `score(account) -> float` and `alerted_at(account)`.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque

from distillguard.models.event import Event
from river import anomaly, compose, preprocessing
from river import stats as stats_q
from scipy import stats


class RateLimit:
    name = "rate limit (RPM)"

    def __init__(self, limit_per_min: int = 60) -> None:
        self.limit = limit_per_min
        self.window: dict[str, deque] = defaultdict(deque)
        self.peak: dict[str, int] = defaultdict(int)
        self.first: dict[str, tuple[float, int]] = {}
        self.count: dict[str, int] = defaultdict(int)

    def update(self, e: Event) -> None:
        w = self.window[e.account_id]
        w.append(e.ts)
        while w and w[0] < e.ts - 60:
            w.popleft()
        self.count[e.account_id] += 1
        self.peak[e.account_id] = max(self.peak[e.account_id], len(w))
        if len(w) > self.limit and e.account_id not in self.first:
            self.first[e.account_id] = (e.ts, self.count[e.account_id])

    def score(self, account: str) -> float:
        return float(self.peak.get(account, 0))

    def alerted_at(self, account: str):
        return self.first.get(account)


class Prada:
    name = "PRADA (simhash distances)"

    def __init__(self, delta: float = 0.90, keep: int = 200, min_samples: int = 20) -> None:
        self.delta, self.keep, self.min_samples = delta, keep, min_samples
        self.seen: dict[str, deque] = defaultdict(lambda: deque(maxlen=keep))
        self.dists: dict[str, deque] = defaultdict(lambda: deque(maxlen=keep))
        self.w: dict[str, float] = {}
        self.first: dict[str, tuple[float, int]] = {}
        self.count: dict[str, int] = defaultdict(int)

    def update(self, e: Event) -> None:
        if e.prompt is None or e.prompt.simhash is None:
            return
        h = int(e.prompt.simhash, 16)
        a = e.account_id
        self.count[a] += 1
        if self.seen[a]:
            self.dists[a].append(min((h ^ o).bit_count() for o in self.seen[a]))
        self.seen[a].append(h)
        d = self.dists[a]
        if len(d) >= self.min_samples and self.count[a] % 10 == 0:
            w = 1.0 if len(set(d)) < 3 else float(stats.shapiro(list(d)).statistic)
            self.w[a] = w
            if w < self.delta and a not in self.first:
                self.first[a] = (e.ts, self.count[a])

    def score(self, account: str) -> float:
        return 1.0 - self.w.get(account, 1.0)

    def alerted_at(self, account: str):
        return self.first.get(account)


class VolumeHST:
    name = "HalfSpaceTrees (volume)"

    def __init__(self, quantile: float = 0.99, every: int = 25) -> None:
        self.model = compose.Pipeline(preprocessing.MinMaxScaler(),
                                      anomaly.HalfSpaceTrees(n_trees=15, height=8, seed=7))
        self.threshold = stats_q.Quantile(quantile)  # adaptive, like ours
        self.every = every
        self.state: dict[str, list[float]] = {}
        self.best: dict[str, float] = defaultdict(float)
        self.first: dict[str, tuple[float, int]] = {}
        self.learned = 0

    def update(self, e: Event) -> None:
        s = self.state.setdefault(e.account_id, [0, 0.0, 0.0, e.ts, 0.0])
        s[0] += 1
        s[1] += e.input_tokens or 0
        s[2] += e.output_tokens or 0
        s[4] = max(s[4], e.ts)
        if s[0] % self.every:
            return
        minutes = max((s[4] - s[3]) / 60, 1.0)
        x = {"rate": math.log1p(s[0] / minutes), "in": math.log1p(s[1] / s[0]),
             "out": math.log1p(s[2] / s[0]), "volume": math.log1p(s[0])}
        if self.learned > 200:
            score = self.model.score_one(x)
            self.best[e.account_id] = max(self.best[e.account_id], score)
            cut = self.threshold.get()
            if cut is not None and self.learned > 500 and score > cut and e.account_id not in self.first:
                self.first[e.account_id] = (e.ts, s[0])
            self.threshold.update(score)
        self.model.learn_one(x)
        self.learned += 1

    def score(self, account: str) -> float:
        return self.best.get(account, 0.0)

    def alerted_at(self, account: str):
        return self.first.get(account)


def all_baselines() -> list:
    return [RateLimit(), Prada(), VolumeHST()]
