"""Peer anomaly: river HalfSpaceTrees over account feature vectors, with an adaptive threshold.

Learns only from accounts that do not already look malicious (river's AnomalyFilter idea), so a
campaign cannot slowly teach the model that it is normal. Scores are turned into a strength by
how far they sit above the running 99th percentile of scores.
"""

from __future__ import annotations

from distillguard.models.detectors.rules import ramp
from river import anomaly, compose, preprocessing, stats

PEER_FEATURES = (
    "log_rate_per_min", "log_output_per_request", "output_input_ratio", "hour_entropy",
    "gap_regularity", "shaped_share", "logprob_share", "logit_bias_share", "unique_prompt_share",
    "templated_share", "reasoning_share", "temperature_zero_share",
)


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
        self.model = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size,
                                   seed=seed),
        )
        self.threshold = stats.Quantile(quantile)
        self.learned = 0

    @staticmethod
    def _select(x: dict[str, float]) -> dict[str, float]:
        return {k: x[k] for k in PEER_FEATURES}

    def learn_one(self, x: dict[str, float]) -> None:
        self.model.learn_one(self._select(x))
        self.learned += 1

    def score_one(self, x: dict[str, float]) -> float:
        """Raw HalfSpaceTrees score in 0..1 (high = unlike peers); 0 during warm-up."""
        if self.learned < self.warmup:
            return 0.0
        score = self.model.score_one(self._select(x))
        self.threshold.update(score)
        return score

    def strength(self, score: float) -> float:
        """How far above the adaptive threshold a score sits, 0..1."""
        cut = self.threshold.get()
        if cut is None or self.learned < self.warmup:
            return 0.0
        return ramp(score, cut, min(1.0, cut + 0.15))
