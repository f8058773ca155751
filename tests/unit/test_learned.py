"""The population's learned state: learning through per-batch deltas (the worker's path, folded
by the learner) gives the same state as learning in place (the replay's path), and the encoded
snapshot every worker reads scores exactly like the state it came from."""

import random

import msgspec
from distillguard.models.detectors.population import INPUTS
from distillguard.models.learned import LearnDelta, Learned


def _features(rng: random.Random) -> dict[str, float]:
    f = {k: rng.random() for k in INPUTS}
    f["account_age_days"] = rng.choice([-1.0, rng.uniform(0, 90)])
    return f


def _teach(learner, rng: random.Random) -> None:
    """The calls the engine makes while scoring a small population, in a fixed order."""
    for i in range(3000):
        account = i % 60
        learner.learn_norm(f"/v1/chat|m{i % 3}|sdk", (rng.randint(17, 3000), rng.randint(1, 900),
                                                     rng.choice([None, 4, 30]), None),
                           51 + i // 60, rng.getrandbits(32))
        if i % 3 == 0:
            events = 25 * (1 + i // 300)
            learner.learn_population(events, _features(rng), rng.choice([5.0, 40.0, 95.0]))
            learner.learn_risk(rng.choice([None, 10.0, 85.0]), rng.uniform(0, 100))
        learner.see_model(f"model-{account % 4}", 1_000.0 + i)
        learner.see_item(rng.choice([rng.getrandbits(64), 0x5EED0000 + i % 97]), 1 + account)
    for i in range(30):
        learner.label(i + 1, f"acct-{i}", "false_positive" if i % 3 else "true_positive",
                      ["extraction_shape"], 200, _features(rng), 85.0)
    learner.label(1, "acct-0", "false_positive", ["extraction_shape"], 200, None, -1)  # again


def test_deltas_folded_by_the_learner_equal_learning_in_place():
    in_place = Learned(feedback_min_labels=5)
    _teach(in_place, random.Random(7))
    folded = Learned(feedback_min_labels=5)
    delta = LearnDelta()
    _teach(delta, random.Random(7))
    wire = msgspec.msgpack.Decoder(LearnDelta).decode(msgspec.msgpack.encode(delta))
    folded.apply(wire)
    assert folded.norms.snapshot() == in_place.norms.snapshot()
    assert folded.releases == in_place.releases
    assert folded.feedback == in_place.feedback
    assert folded.feedback.labels("extraction_shape") == 30  # the repeated label id counted once
    assert folded.calibrator.snapshot() == in_place.calibrator.snapshot()
    assert folded.population.snapshot() == in_place.population.snapshot()
    assert folded.population.peers.learned > 500  # past the warm-up: it scores
    assert folded.items.snapshot() == in_place.items.snapshot()
    assert folded.items.seen_elsewhere(0x5EED0000 + 3, 1)  # a prompt many accounts send


def test_a_decoded_snapshot_scores_like_the_state_it_came_from():
    learned = Learned()
    _teach(learned, random.Random(3))
    again = Learned.decode(learned.encode())
    rng = random.Random(11)
    for _ in range(50):
        f = _features(rng)
        assert again.population.reasons(300, f) == learned.population.reasons(300, f)
        assert again.population.peers.score_one(f) == learned.population.peers.score_one(f)
    for segment in ("/v1/chat|m0|sdk", "/v1/chat|m2|sdk", "unseen"):
        assert again.norms.norms(segment) == learned.norms.norms(segment)
    for risk in (10.0, 79.9, 80.0, 97.0):
        assert again.calibrator.score_one(risk) == learned.calibrator.score_one(risk)
    assert again.releases.is_new("model-1", 5_000.0) == learned.releases.is_new("model-1", 5_000.0)
    assert again.feedback.weight("extraction_shape") == learned.feedback.weight("extraction_shape")
    for i in range(97):
        item = 0x5EED0000 + i
        assert again.items.seen_elsewhere(item, 5) == learned.items.seen_elsewhere(item, 5)
