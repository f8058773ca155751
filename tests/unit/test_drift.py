"""Behaviour drift: a turn from an ordinary baseline, measured by learned cut-offs."""

from distillguard.models.detectors.rules import behaviour_drift
from distillguard.models.features import account_features
from distillguard.models.profile import WARM_WINDOW, AccountProfile

from tests.helpers import BASE_TS, event
from tests.unit.test_engine import as_event


def test_drift_baseline_waits_for_learned_cut_offs():
    p = AccountProfile("late")
    for i in range(80):  # judged by the warm-up prior
        p.update(as_event(event("late", BASE_TS + i * 1000, input_tokens=50, output_tokens=100)),
                 warm=False)
    assert p.recent_at_baseline == []
    for i in range(WARM_WINDOW):
        p.update(as_event(event("late", BASE_TS + (100 + i) * 1000, input_tokens=50,
                                output_tokens=100)))
    assert len(p.recent_at_baseline) == 3


def test_drift_is_a_turn_from_a_low_baseline():
    turned = AccountProfile("turned", events=300, recent=[0.8, 0.0, 0.0],
                            recent_at_baseline=[0.02, 0.0, 0.0])
    moved = AccountProfile("moved", events=300, recent=[0.8, 0.0, 0.0],
                           recent_at_baseline=[0.4, 0.0, 0.0])
    assert behaviour_drift(turned, account_features(turned)).strength > 0.5
    assert behaviour_drift(moved, account_features(moved)) is None
