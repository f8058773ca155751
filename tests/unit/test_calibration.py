"""Alerting calibrated at a chosen false-positive rate from analysts' labels."""

import random

import msgspec
from distillguard.models.calibration import (
    ALERT,
    MIN_LABELS,
    AlertCalibrator,
    CalibrationSnapshot,
)


def _population(cal: AlertCalibrator, rng: random.Random) -> list[float]:
    """1000 benign accounts, 40 of them scoring 80-86 (a benign persona the rules over-rate),
    and 100 harvesters at 90-100. Returns the benign accounts' risks."""
    benign = [rng.uniform(0, 60) for _ in range(960)] + [rng.uniform(80, 86) for _ in range(40)]
    for r in benign + [rng.uniform(90, 100) for _ in range(100)]:
        cal.learn_one(None, r)
    return benign


def test_without_labels_the_bar_is_80_and_risk_unchanged():
    cal = AlertCalibrator(target_fpr=0.01)
    _population(cal, random.Random(1))
    assert cal.bar == ALERT
    assert [cal.score_one(r) for r in (0.0, 79.9, 80.0, 97.3)] == [0.0, 79.9, 80.0, 97.3]


def test_labelled_false_positives_raise_the_bar_to_the_chosen_rate():
    rng = random.Random(2)
    cal = AlertCalibrator(target_fpr=0.01)
    benign = _population(cal, rng)
    assert MIN_LABELS <= 20
    for _ in range(20):  # analysts labelled half the alerts, whatever they were
        cal.label(rng.uniform(80, 86), false_positive=True)
    for _ in range(50):
        cal.label(rng.uniform(90, 100), false_positive=False)
    assert sum(r >= 80 for r in benign) / len(benign) == 0.04  # at the default bar
    assert 83 <= cal.bar <= 90
    assert sum(r >= cal.bar for r in benign) / len(benign) <= 0.012  # at the calibrated bar
    before = msgspec.msgpack.encode(cal.snapshot())
    mapped = [cal.score_one(r) for r in (10.0, cal.bar - 1, cal.bar, 99.0)]
    assert msgspec.msgpack.encode(cal.snapshot()) == before  # scoring changed nothing
    assert mapped[0] < mapped[1] < ALERT <= mapped[2] < mapped[3] <= 100  # monotone, 80 = bar
    loose = AlertCalibrator(target_fpr=0.05)
    loose.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(cal.snapshot()),
                                         type=CalibrationSnapshot))
    assert loose.bar == ALERT  # 4% benign alerted is within a 5% target
    again = AlertCalibrator(target_fpr=0.01)
    again.restore(cal.snapshot())
    assert again.bar == cal.bar and again.score_one(cal.bar - 1) == mapped[1]


def test_an_account_counts_once_however_often_it_is_scored():
    cal = AlertCalibrator()
    cal.learn_one(None, 10.0)
    for before, after in ((10.0, 50.0), (50.0, 85.0), (85.0, 99.0)):
        cal.learn_one(before, after)
    assert sum(cal.accounts) == 1 and cal.accounts[99] == 1


def test_labels_that_are_all_true_never_move_the_bar():
    """A small population whose alerts analysts all confirm: nothing to calibrate (a smoothed
    estimate once invented false positives here and raised the bar over most harvesters)."""
    rng = random.Random(3)
    cal = AlertCalibrator(target_fpr=0.01)
    for _ in range(170):
        cal.learn_one(None, rng.uniform(0, 70))
    for _ in range(115):
        cal.learn_one(None, rng.uniform(80, 100))
    for _ in range(60):
        cal.label(rng.uniform(80, 100), false_positive=False)
    assert cal.bar == ALERT
