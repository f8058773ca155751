"""The population-level river models: score_one changes nothing, learn_one learns, and the state
travels as msgspec (no pickle) and comes back scoring the same."""

import random

import msgspec
import pytest
from distillguard.models.detectors.peer_anomaly import PEER_FEATURES, PeerAnomaly, PeerSnapshot
from distillguard.models.detectors.population import PopulationModels, PopulationSnapshot
from distillguard.models.detectors.verdict_model import (
    VERDICT_FEATURES,
    VerdictModel,
    VerdictSnapshot,
)


def _vector(rng: random.Random, names, centre: float) -> dict[str, float]:
    return {k: rng.gauss(centre, 0.05) for k in names}


def _features(rng: random.Random, centre: float) -> dict[str, float]:
    """A full account feature dict as models.features makes it (what the wrapper reads)."""
    x = _vector(rng, set(PEER_FEATURES) | set(VERDICT_FEATURES), centre)
    x["account_age_days"] = 100.0 if centre < 0.5 else 1.0
    return x


def _roundtrip(snap, kind):
    return msgspec.msgpack.decode(msgspec.msgpack.encode(snap), type=kind)


def test_peer_anomaly_scores_without_learning_and_restores_the_same():
    rng = random.Random(3)
    peers = PeerAnomaly(warmup=100, window_size=50)
    for _ in range(400):
        peers.learn_one(_vector(rng, PEER_FEATURES, 0.3))
    odd, usual = _vector(rng, PEER_FEATURES, 0.9), _vector(rng, PEER_FEATURES, 0.3)
    before = msgspec.msgpack.encode(peers.snapshot())
    scores = [peers.score_one(odd) for _ in range(5)]
    assert msgspec.msgpack.encode(peers.snapshot()) == before  # scoring changed nothing
    assert len(set(scores)) == 1 and scores[0] > peers.score_one(usual)
    assert peers.strength(scores[0]) > 0 and peers.strength(peers.score_one(usual)) == 0
    again = PeerAnomaly(warmup=100, window_size=50)
    again.restore(_roundtrip(peers.snapshot(), PeerSnapshot))
    assert again.score_one(odd) == scores[0] and again.threshold() == peers.threshold()
    peers.learn_one(usual)
    again.learn_one(usual)  # and it goes on learning alike
    assert again.score_one(odd) == peers.score_one(odd)


def test_verdict_model_learns_the_confident_split_and_restores_the_same():
    rng = random.Random(4)
    model = VerdictModel()
    assert model.score_one(_vector(rng, VERDICT_FEATURES, 0.8)) == 0.0  # silent until ready
    for _ in range(60):
        model.learn_one(_vector(rng, VERDICT_FEATURES, 0.2), False)
        model.learn_one(_vector(rng, VERDICT_FEATURES, 0.8), True)
    harvester, ordinary = _vector(rng, VERDICT_FEATURES, 0.75), _vector(rng, VERDICT_FEATURES, 0.25)
    before = msgspec.msgpack.encode(model.snapshot())
    p = model.score_one(harvester)
    assert msgspec.msgpack.encode(model.snapshot()) == before
    assert p > 0.9 > 0.1 > model.score_one(ordinary)
    again = VerdictModel()
    again.restore(_roundtrip(model.snapshot(), VerdictSnapshot))
    assert again.score_one(harvester) == pytest.approx(p)


def test_population_models_learn_from_rule_risk_and_speak_once():
    rng = random.Random(5)
    pop = PopulationModels()
    for i in range(3000):
        events = 50 + (i % 8) * 25 * 2 ** (i % 5)
        if i % 3:
            pop.learn(events, _features(rng, 0.2), rule_risk=5.0)
        else:
            pop.learn(events, _features(rng, 0.8), rule_risk=95.0)
    assert pop.verdicts is not None and pop.verdicts.ready
    reasons = pop.reasons(400, _features(rng, 0.8))
    assert len(reasons) == 1  # one piece of evidence, however many models agree
    (reason, weight), = reasons
    assert reason.code in {"unlike_peers", "resembles_harvesters"} and weight < 0.4
    snap = _roundtrip(pop.snapshot(), PopulationSnapshot)
    again = PopulationModels()
    again.restore(snap)
    assert again.reasons(400, _features(random.Random(9), 0.8)) == pop.reasons(
        400, _features(random.Random(9), 0.8))
    assert PopulationModels(peers=False, verdicts=False).reasons(400, _features(rng, 0.8)) == []
