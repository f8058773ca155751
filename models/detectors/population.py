"""The population-level river models behind one pair of calls for the engine: `reasons` (pure)
and `learn`, plus `label` for analysts' verdicts and `snapshot` / `restore` for the runtime.

- peers (`PeerAnomaly`, HalfSpaceTrees): how unlike the ordinary accounts an account behaves;
- verdicts (`VerdictModel`, LogisticRegression): how much an account the rules are unsure
  about resembles the accounts they are sure are harvesting, in this deployment's traffic.

Both learn from the rules' own risk (without any river model or the group stage), so neither
teaches the other. They speak as one reason (the stronger of the two): both measure how an
account sits in the population, not a behaviour of its own, so they are one piece of evidence,
capped at RIVER_WEIGHT; a chain-of-thought benchmark (reasoning asks, medium) that is unusual
and looks automated stays medium. Either can be switched off (`EngineConfig.disabled`: "peers",
"verdicts"; "river" is both) for the evaluation's ablation rows.
"""

from __future__ import annotations

import msgspec
from distillguard.models.detectors.peer_anomaly import PEER_FEATURES, PeerAnomaly, PeerSnapshot
from distillguard.models.detectors.rules import ramp
from distillguard.models.detectors.verdict_model import (
    VERDICT_FEATURES,
    VerdictModel,
    VerdictSnapshot,
    model_features,
)
from distillguard.models.outcomes import Reason

RIVER_WEIGHT = 0.35     # the population models together: medium at most, and never enough to
#                         lift a medium rule verdict (reasoning asks: 0.6) into an alert
LEARN_BELOW_RISK = 50.0  # peers learn from accounts the rules put below this
CONFIDENT_RISK = 90.0    # the rules are sure: extraction
ORDINARY_RISK = 20.0     # ...sure it is ordinary, once the account has ORDINARY_EVENTS
ORDINARY_EVENTS = 50
CHECKPOINT = 25          # an account teaches the verdict model about once per doubling
LABEL_WEIGHT = 5.0       # an analyst's label against one confident rule verdict


# What `learn` and `label` read of an account's features (a learning delta carries these, in
# this order, instead of the whole feature dict).
INPUTS = tuple(dict.fromkeys((*PEER_FEATURES, *VERDICT_FEATURES[:-3], "account_age_days")))


def inputs_of(f: dict[str, float]) -> list[float]:
    return [f[k] for k in INPUTS]


def features_of(values: list[float]) -> dict[str, float]:
    return dict(zip(INPUTS, values, strict=True))


class PopulationSnapshot(msgspec.Struct):
    peers: PeerSnapshot | None = None
    verdicts: VerdictSnapshot | None = None


def _checkpoint(events: int) -> bool:
    """True for the first score in [2^j * CHECKPOINT, 2^j * CHECKPOINT + CHECKPOINT), j >= 1."""
    k = events // CHECKPOINT
    return k >= 2 and k & (k - 1) == 0


class PopulationModels:
    def __init__(self, peers: bool = True, verdicts: bool = True) -> None:
        self.peers = PeerAnomaly() if peers else None
        self.verdicts = VerdictModel() if verdicts else None

    def reasons(self, events: int, f: dict[str, float]) -> list[tuple[Reason, float]]:
        """The models' reason for an account with these features (at most one: the stronger
        model's). Changes no state."""
        found = []
        if self.peers is not None:
            score = self.peers.score_one(f)
            strength = self.peers.strength(score)
            if strength > 0:
                found.append(Reason("unlike_peers",
                                    f"behaviour unlike ordinary accounts (anomaly {score:.2f})",
                                    strength, {"peer_anomaly": score}))
        if self.verdicts is not None and self.verdicts.ready:
            p = self.verdicts.score_one(model_features(f, events))
            strength = ramp(p, 0.5, 0.95)
            if strength > 0:
                found.append(Reason("resembles_harvesters",
                                    f"resembles the accounts judged to be harvesting in this "
                                    f"traffic (probability {p:.2f})", strength,
                                    {"verdict_probability": p}))
        if not found:
            return []
        return [(max(found, key=lambda r: r.strength), RIVER_WEIGHT)]

    @staticmethod
    def learns_from(events: int, rule_risk: float) -> bool:
        """Whether `learn` would learn anything from such an account (a worker sends only
        these to the learner)."""
        return rule_risk < LEARN_BELOW_RISK or (_checkpoint(events) and (
            rule_risk >= CONFIDENT_RISK or (rule_risk <= ORDINARY_RISK
                                            and events >= ORDINARY_EVENTS)))

    def learn(self, events: int, f: dict[str, float], rule_risk: float) -> None:
        """Learn from one scored account, given the risk the rules alone gave it."""
        if self.peers is not None and rule_risk < LEARN_BELOW_RISK:
            self.peers.learn_one(f)
        if self.verdicts is not None and _checkpoint(events):
            if rule_risk >= CONFIDENT_RISK:
                self.verdicts.learn_one(model_features(f, events), True)
            elif rule_risk <= ORDINARY_RISK and events >= ORDINARY_EVENTS:
                self.verdicts.learn_one(model_features(f, events), False)

    def label(self, events: int, f: dict[str, float], attack: bool) -> None:
        """An analyst's verdict on an account: a strong example for the verdict model."""
        if self.verdicts is not None:
            self.verdicts.learn_one(model_features(f, events), attack, weight=LABEL_WEIGHT)

    def snapshot(self) -> PopulationSnapshot:
        return PopulationSnapshot(
            self.peers.snapshot() if self.peers is not None else None,
            self.verdicts.snapshot() if self.verdicts is not None else None)

    def restore(self, snap: PopulationSnapshot) -> None:
        if self.peers is not None and snap.peers is not None:
            self.peers.restore(snap.peers)
        if self.verdicts is not None and snap.verdicts is not None:
            self.verdicts.restore(snap.verdicts)
