"""Peer anomaly: river HalfSpaceTrees over account feature vectors, with an adaptive threshold.

Learns only from accounts that do not already look malicious (river's AnomalyFilter idea), so a
campaign cannot slowly teach the model that it is normal. Scores are turned into a strength by
how far they sit above the running 99th percentile of the scores of what it learned.

Shared, population-level state (models/learned.py): `score_one` and `strength` only read, so
every worker scoring against the same snapshot gets the same answer; `learn_vector` is called
by one learner. `snapshot()`/`restore()` give plain data (no pickle: the snapshot travels on an
internal topic): the scaler's ranges, the trees' splits and masses, the score histogram.
"""

from __future__ import annotations

import msgspec
from distillguard.models.detectors.rules import ramp
from river import anomaly
from river.tree.padded import PaddedBranch, PaddedLeaf

PEER_FEATURES = (
    "log_rate_per_min", "log_output_per_request", "output_input_ratio", "hour_entropy",
    "gap_regularity", "shaped_share", "logprob_share", "logit_bias_share", "unique_prompt_share",
    "templated_share", "reasoning_share", "temperature_zero_share",
)
SCORE_BINS = 200  # the score threshold is read from a histogram of learned scores over 0..1
THRESHOLD_SAMPLE = 4  # every 4th learned vector is scored for that histogram (a sample is enough)


class PeerSnapshot(msgspec.Struct, array_like=True):
    learned: int
    low: list[float]
    high: list[float]
    counter: int
    first_window: bool
    trees: list[list[list[float]]]  # per tree, DFS nodes: [feature, threshold, l, r] or [l, r]
    scores: list[int]               # histogram of learned samples' scores


class PeerAnomaly:
    """`learn_vector` (the learner) / `score_one`, `strength` (read-only) over feature dicts."""

    def __init__(self, height: int = 8, n_trees: int = 15, window_size: int = 250,
                 warmup: int = 500, quantile: float = 0.99, seed: int = 42) -> None:
        self.height, self.n_trees, self.window_size = height, n_trees, window_size
        self.warmup, self.quantile, self.seed = warmup, quantile, seed
        self.model = anomaly.HalfSpaceTrees(n_trees=n_trees, height=height,
                                            window_size=window_size, seed=seed)
        n = len(PEER_FEATURES)
        self.low, self.high = [float("inf")] * n, [float("-inf")] * n  # min-max scaling
        self.scores = [0] * SCORE_BINS
        self.learned = 0
        self._cut: float | None = None

    @staticmethod
    def vector(x: dict[str, float]) -> list[float]:
        """The features this model reads, in order: what travels to the learner."""
        return [x[k] for k in PEER_FEATURES]

    def _scaled(self, v: list[float]) -> dict[int, float]:
        out = {}
        for i, (value, lo, hi) in enumerate(zip(v, self.low, self.high, strict=True)):
            span = hi - lo
            out[i] = (value - lo) / span if span > 0 else 0.0
        return out

    def learn_vector(self, v: list[float]) -> None:
        """Learn one benign-looking account's vector; its score (before learning) feeds the
        threshold histogram."""
        for i, value in enumerate(v):
            if value < self.low[i]:
                self.low[i] = value
            if value > self.high[i]:
                self.high[i] = value
        x = self._scaled(v)
        if self.learned >= self.warmup and self.learned % THRESHOLD_SAMPLE == 0:
            score = self.model.score_one(x)
            self.scores[min(SCORE_BINS - 1, max(0, int(score * SCORE_BINS)))] += 1
            self._cut = None
        self.model.learn_one(x)
        self.learned += 1

    def learn_one(self, x: dict[str, float]) -> None:
        self.learn_vector(self.vector(x))

    def score_one(self, x: dict[str, float]) -> float:
        """Raw HalfSpaceTrees score in 0..1 (high = unlike peers); 0 during warm-up."""
        if self.learned < self.warmup:
            return 0.0
        return self.model.score_one(self._scaled(self.vector(x)))

    def threshold(self) -> float | None:
        """The `quantile` of learned samples' scores (upper bin edge), None before any."""
        if self._cut is None:
            total = sum(self.scores)
            if not total:
                return None
            acc, target = 0, self.quantile * total
            for i, count in enumerate(self.scores):
                acc += count
                if acc >= target:
                    self._cut = (i + 1) / SCORE_BINS
                    break
        return self._cut

    def strength(self, score: float) -> float:
        """How far above the adaptive threshold a score sits, 0..1."""
        cut = self.threshold()
        if cut is None or self.learned < self.warmup:
            return 0.0
        return ramp(score, cut, min(1.0, cut + 0.15))

    def snapshot(self) -> PeerSnapshot:
        trees = []
        for root in self.model.trees:
            trees.append([[n.feature, n.threshold, n.l_mass, n.r_mass]
                          if isinstance(n, PaddedBranch) else [n.l_mass, n.r_mass]
                          for n in root.iter_dfs()])
        return PeerSnapshot(self.learned, list(self.low), list(self.high), self.model.counter,
                            self.model._first_window, trees, list(self.scores))

    @classmethod
    def restore(cls, snap: PeerSnapshot, **params) -> PeerAnomaly:
        peer = cls(**params)
        peer.learned, peer.scores = snap.learned, list(snap.scores)
        peer.low, peer.high = list(snap.low), list(snap.high)
        model = peer.model
        model.counter, model._first_window = snap.counter, snap.first_window
        model.trees = [_tree(iter(nodes)) for nodes in snap.trees]
        model._tree_nodes = [list(t.iter_dfs()) for t in model.trees]
        return peer


def _tree(nodes) -> PaddedBranch | PaddedLeaf:
    """Rebuild one tree from its DFS node list (a branch is followed by its two subtrees)."""
    node = next(nodes)
    if len(node) == 2:
        return PaddedLeaf(l_mass=int(node[0]), r_mass=int(node[1]))
    left, right = _tree(nodes), _tree(nodes)
    return PaddedBranch(left, right, int(node[0]), node[1], int(node[2]), int(node[3]))
