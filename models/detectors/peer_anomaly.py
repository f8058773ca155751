"""Peer anomaly: river HalfSpaceTrees over account feature vectors, with an adaptive threshold.

Learns only from accounts the rules do not find risky (river's AnomalyFilter idea), so a campaign
cannot slowly teach the model that it is normal. The threshold is a quantile of the scores those
same benign-looking accounts got just before they were learned, so "unusual" means unusual among
ordinary accounts, not among everybody (where harvesters, a large share of some populations,
would set it). `score_one` never changes any state; `learn_one` does all the learning.
`snapshot()` / `restore()` carry the state as plain numbers (the trees' structure comes back
from the seed; their masses, the scaler's ranges and the score histogram are saved).
"""

from __future__ import annotations

import bisect
import itertools

import msgspec
from distillguard.models.detectors.rules import ramp
from river import anomaly

PEER_FEATURES = (
    "log_rate_per_min", "log_output_per_request", "output_input_ratio", "hour_entropy",
    "gap_regularity", "shaped_share", "logprob_share", "logit_bias_share", "unique_prompt_share",
    "templated_share", "reasoning_share", "temperature_zero_share",
)
SCORE_BINS = 200  # histogram of benign scores in 0..1, for the threshold quantile


class PeerSnapshot(msgspec.Struct, array_like=True):
    learned: int
    lows: dict[str, float]
    highs: dict[str, float]
    counter: int
    first_window: bool
    masses: list[list[int]]          # per tree: l_mass, r_mass of each node, depth-first
    scores: list[int]                # histogram of benign accounts' scores before learning


class PeerAnomaly:
    """`learn_one` / `score_one` over the feature dicts of `models.features`."""

    def __init__(self, height: int = 8, n_trees: int = 15, window_size: int = 250,
                 warmup: int = 500, quantile: float = 0.99, seed: int = 42) -> None:
        self.height = height
        self.n_trees = n_trees
        self.window_size = window_size
        self.warmup = warmup
        self.quantile = quantile
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.model = anomaly.HalfSpaceTrees(n_trees=self.n_trees, height=self.height,
                                            window_size=self.window_size, seed=self.seed)
        self.lows: dict[str, float] = {}
        self.highs: dict[str, float] = {}
        self.scores = [0] * SCORE_BINS
        self.learned = 0
        self._cut: float | None = None
        self._last: tuple[dict[str, float], float] | None = None  # see _score

    def _scaled(self, x: dict[str, float]) -> dict[str, float]:
        """Min-max scaling by the ranges learned so far (river's MinMaxScaler, as plain dicts)."""
        out = {}
        for k in PEER_FEATURES:
            lo, hi = self.lows.get(k, 0.0), self.highs.get(k, 0.0)
            out[k] = min(1.0, max(0.0, (x[k] - lo) / (hi - lo))) if hi > lo else 0.0
        return out

    def learn_one(self, x: dict[str, float]) -> None:
        if self.learned >= self.warmup:  # the score it gets as one of the benign population
            score = self._score(self._scaled(x))
            self.scores[min(SCORE_BINS - 1, int(score * SCORE_BINS))] += 1
            self._cut = None
        for k in PEER_FEATURES:
            v = x[k]
            if k not in self.lows:
                self.lows[k] = self.highs[k] = v
            elif v < self.lows[k]:
                self.lows[k] = v
            elif v > self.highs[k]:
                self.highs[k] = v
        self.model.learn_one(self._scaled(x))
        self._last = None
        self.learned += 1

    def score_one(self, x: dict[str, float]) -> float:
        """Raw HalfSpaceTrees score in 0..1 (high = unlike peers); 0 during warm-up. Pure."""
        if self.learned < self.warmup:
            return 0.0
        return self._score(self._scaled(x))

    def _score(self, scaled: dict[str, float]) -> float:
        """The trees' score, the last one remembered until they learn: the engine scores an
        account and then learns from the same features, which would walk all trees twice."""
        if self._last is not None and self._last[0] == scaled:
            return self._last[1]
        score = self.model.score_one(scaled)
        self._last = (scaled, score)
        return score

    def threshold(self) -> float | None:
        """The `quantile` of benign accounts' scores (None until some were seen)."""
        if self._cut is None:  # after every learned account: running sums in C, not a loop
            cumulative = list(itertools.accumulate(self.scores))
            total = cumulative[-1]
            if total < 50:
                return None
            i = bisect.bisect_left(cumulative, self.quantile * total)  # first bin reaching it
            if i < SCORE_BINS:
                self._cut = (i + 1) / SCORE_BINS
        return self._cut

    def strength(self, score: float) -> float:
        """How far above the benign accounts' threshold a score sits, 0..1."""
        cut = self.threshold()
        if cut is None or self.learned < self.warmup:
            return 0.0
        return ramp(score, cut, min(1.0, cut + 0.15))

    def snapshot(self) -> PeerSnapshot:
        m = self.model
        masses = [[v for node in nodes for v in (node.l_mass, node.r_mass)]
                  for nodes in m._tree_nodes]
        return PeerSnapshot(self.learned, dict(self.lows), dict(self.highs), m.counter,
                            m._first_window, masses, list(self.scores))

    def restore(self, snap: PeerSnapshot) -> None:
        self._reset()
        self.lows, self.highs = dict(snap.lows), dict(snap.highs)
        self.scores = list(snap.scores)
        self.learned = snap.learned
        if snap.masses:
            m = self.model
            m.learn_one(dict.fromkeys(PEER_FEATURES, 0.0))  # builds the trees from the seed
            for nodes, masses in zip(m._tree_nodes, snap.masses, strict=True):
                for i, node in enumerate(nodes):
                    node.l_mass, node.r_mass = masses[2 * i], masses[2 * i + 1]
            m.counter, m._first_window = snap.counter, snap.first_window
