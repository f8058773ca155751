"""Verdict model: river LogisticRegression over account features, taught by this deployment's
own confident verdicts and by analysts' labels.

The rules are confident about some accounts (rule risk >= CONFIDENT_RISK: extraction; rule risk
<= ORDINARY_RISK after enough requests: ordinary) and unsure about the rest. The model learns,
online, what separates the two confident groups in *this* traffic, over features the rules do not judge
(timing, volume, answer sizes, temperature, prompt variety, account age): a second view,
and says how much an unsure account resembles the confident harvesters: positive-unlabelled
learning from the rules' verdicts. Analysts' labels teach it with more weight. It never learns
from its own output or from the group stage, so it cannot talk itself into a verdict; each
account teaches it a handful of times (at ~2^k scores), so busy accounts do not dominate.

`score_one` never changes state; `snapshot()` / `restore()` carry weights, intercept and the
scaler's running moments as plain numbers.
"""

from __future__ import annotations

import math

import msgspec
from river import linear_model, optim

# Context, not the rules' own evidence: a second view of the account (timing, volume, answer
# sizes, sampling, prompt variety, account age). Trained on the rules' verdicts and fed the
# rules' features, the model would only learn the rules back (and call every chain-of-thought
# benchmark a harvester because reasoning asks mark the confident ones).
VERDICT_FEATURES = (
    "log_rate_per_min", "log_output_per_request", "hour_entropy", "gap_regularity",
    "burstiness", "temperature_zero_share", "unique_prompt_share", "near_duplicate_share",
    "templated_share", "distinct_system_share", "new_model_share",
    "log_account_age", "age_unknown", "log_events",
)
MIN_EACH = 20   # examples of each class before the model speaks


class VerdictSnapshot(msgspec.Struct, array_like=True):
    seen: list[int]                  # examples learned: [ordinary, extraction]
    moments: dict[str, list[float]]  # feature -> [n, mean, m2]
    weights: dict[str, float]
    intercept: float
    iterations: int


def model_features(x: dict[str, float], events: int) -> dict[str, float]:
    """The features of `models.features` this model reads, plus account age and volume."""
    out = {k: x[k] for k in VERDICT_FEATURES[:-3]}
    age = x["account_age_days"]
    out["log_account_age"] = math.log1p(age) if age >= 0 else 0.0
    out["age_unknown"] = 1.0 if age < 0 else 0.0
    out["log_events"] = math.log1p(events)
    return out


class VerdictModel:
    """`learn_one(x, y)` / `score_one(x)` over `model_features` dicts; y True = extraction."""

    def __init__(self, lr: float = 0.05, l2: float = 1e-3) -> None:
        self.lr, self.l2 = lr, l2
        self._reset()

    def _reset(self) -> None:
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(self.lr), l2=self.l2)
        self.moments: dict[str, list[float]] = {}
        self.seen = [0, 0]

    def _scaled(self, x: dict[str, float]) -> dict[str, float]:
        out = {}
        for k, v in x.items():
            n, mean, m2 = self.moments.get(k, (0, 0.0, 0.0))
            std = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
            out[k] = (v - mean) / std if std > 1e-9 else 0.0
        return out

    def learn_one(self, x: dict[str, float], y: bool, weight: float = 1.0) -> None:
        for k, v in x.items():  # running moments (Welford), the scaler's state
            m = self.moments.setdefault(k, [0, 0.0, 0.0])
            m[0] += 1
            delta = v - m[1]
            m[1] += delta / m[0]
            m[2] += delta * (v - m[1])
        self.model.learn_one(self._scaled(x), bool(y), w=weight)
        self.seen[bool(y)] += 1

    @property
    def ready(self) -> bool:
        return min(self.seen) >= MIN_EACH

    def score_one(self, x: dict[str, float]) -> float:
        """Probability that the account is extraction-like, 0 until both classes were seen
        MIN_EACH times. Pure."""
        if not self.ready:
            return 0.0
        return self.model.predict_proba_one(self._scaled(x)).get(True, 0.0)

    def snapshot(self) -> VerdictSnapshot:
        return VerdictSnapshot(list(self.seen), {k: list(v) for k, v in self.moments.items()},
                               dict(self.model.weights), float(self.model.intercept),
                               self.model.optimizer.n_iterations)

    def restore(self, snap: VerdictSnapshot) -> None:
        self._reset()
        self.seen = list(snap.seen)
        self.moments = {k: list(v) for k, v in snap.moments.items()}
        for k, w in snap.weights.items():
            self.model._weights[k] = w
        self.model.intercept = snap.intercept
        self.model.optimizer.n_iterations = snap.iterations
