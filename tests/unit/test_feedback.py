"""Analyst feedback: per account by default, global reweighting only from enough accounts'
labels, de-duplicated by label id, bounded, restorable; wired into the engine."""

from __future__ import annotations

import msgspec
import pytest
from distillguard.models.engine import Engine
from distillguard.models.event import Event
from distillguard.models.feedback import MAX_REASONS, FeedbackState
from distillguard.models.learned import Learned
from distillguard.models.profile import AccountProfile

from tests.helpers import BASE_TS, harvester_events

LP = "logprob_harvesting"


def as_event(d: dict) -> Event:
    return msgspec.json.decode(msgspec.json.encode(d), type=Event)


def test_weight_stays_neutral_until_enough_accounts():
    s = FeedbackState(min_labels=20)
    for i in range(19):
        assert s.apply(i + 1, f"acct-{i}", "false_positive", [LP])
    assert s.labels(LP) == 19 and s.weight(LP) == 1.0
    assert s.apply(20, "acct-19", "false_positive", [LP])
    assert s.weight(LP) == pytest.approx(0.5 + 0.7 * 1 / 22)
    assert s.weight("unlike_peers") == 1.0  # other reasons untouched


def test_one_account_labelled_many_times_counts_once():
    s = FeedbackState(min_labels=3)
    for label_id in range(1, 51):  # the eval team labels its own account fifty times
        assert s.apply(label_id, "acct-eval", "false_positive", [LP, LP])
    assert s.labels(LP) == 1 and s.weight(LP) == 1.0
    s.apply(51, "acct-eval", "true_positive", [LP])  # its latest label replaces its vote
    assert s.tallies[LP] == [1, 0]


def test_duplicate_label_ids_change_nothing():
    s = FeedbackState(min_labels=1)
    assert s.apply(7, "acct-a", "false_positive", [LP])
    before = msgspec.json.encode(s)
    assert s.apply(7, "acct-b", "false_positive", [LP]) is False  # a redelivered message
    assert msgspec.json.encode(s) == before
    assert s.apply(0, "acct-b", "true_positive", [LP])  # no id: applied, not de-duplicated
    assert s.apply(0, "acct-c", "true_positive", [LP])


def test_precision_sets_the_weight_within_bounds():
    s = FeedbackState(min_labels=10)
    for i in range(10):
        s.apply(i + 1, f"a{i}", "true_positive", ["templated_sweep"])
        s.apply(100 + i, f"a{i}", "true_positive" if i < 5 else "false_positive",
                ["behaviour_drift"])
    assert s.weight("templated_sweep") == pytest.approx(0.5 + 0.7 * 11 / 12)
    assert s.weight("behaviour_drift") == pytest.approx(0.85)
    assert 0.5 <= s.weight("behaviour_drift") <= 1.2


def test_state_is_bounded():
    s = FeedbackState(min_labels=1, max_votes=100, max_recent_ids=50)
    for i in range(1000):
        s.apply(i + 1, f"acct-{i}", "false_positive", [LP, f"bogus_code_{i}", "x" * 500, ""])
    assert len(s.recent_ids) == 50 and s.recent_ids[-1] == 1000
    assert len(s.votes) == 100
    assert len(s.tallies) <= MAX_REASONS
    assert sum(sum(t) for t in s.tallies.values()) == len(s.votes)  # tallies match the votes
    assert not any("acct-" in key for key in s.votes)  # hashed, no account ids in snapshots
    assert len(msgspec.json.encode(s)) < 20_000


def test_free_form_labels_are_refused():
    with pytest.raises(ValueError, match="true_positive, false_positive"):
        FeedbackState().apply(1, "acct-a", "meh", [LP])


def test_snapshot_and_restore_round_trip():
    s = FeedbackState(min_labels=2)
    for i in range(5):
        s.apply(i + 1, f"acct-{i}", "false_positive", [LP])
    restored = msgspec.msgpack.decode(msgspec.msgpack.encode(s), type=FeedbackState)
    assert restored == s and restored.weight(LP) == s.weight(LP)
    assert restored.apply(3, "acct-x", "true_positive", [LP]) is False  # ids survive too


def _harvester_risk(engine: Engine, profiles: dict, account: str) -> float:
    for e in harvester_events(account, 200, start_ms=BASE_TS):
        engine.process(as_event(e))
    engine.flush([account])
    return profiles[account].risk


def test_engine_delegates_and_one_label_moves_only_that_account():
    profiles: dict[str, AccountProfile] = {}
    engine = Engine(profiles, learned=Learned(feedback_min_labels=3))
    feedback = engine.learned.feedback
    baseline = _harvester_risk(engine, profiles, "acct-0")
    engine.feedback("acct-0", "false_positive", [LP, "logit_bias_probing"], label_id=1)
    assert feedback.labels(LP) == 1
    engine.feedback("acct-0", "false_positive", [LP], label_id=1)  # redelivered: no change
    assert feedback.labels(LP) == 1 and feedback.labels("logit_bias_probing") == 1
    assert feedback.weight(LP) == 1.0
    assert _harvester_risk(engine, profiles, "acct-other") == pytest.approx(baseline)
    # labels from enough different accounts lower the reason for everyone
    for i in (2, 3):
        engine.feedback(f"acct-{i}", "false_positive", [LP, "logit_bias_probing"], label_id=i)
    assert feedback.weight(LP) < 1.0
    assert _harvester_risk(engine, profiles, "acct-new") < baseline


def test_worker_feedback_message_takes_label_id_and_refuses_free_form_labels():
    from distillguard.stream.agents.apply_feedback import FeedbackMessage

    decode = msgspec.json.Decoder(FeedbackMessage).decode
    ok = decode(b'{"label_id": 17, "account_id": "a", "label": "false_positive",'
                b' "reason_codes": ["logprob_harvesting"]}')
    assert ok.label_id == 17
    assert decode(b'{"account_id": "a", "label": "true_positive"}').label_id == 0  # older API
    with pytest.raises(msgspec.DecodeError):  # counted as "malformed", never a metric label
        decode(b'{"label_id": 18, "account_id": "a", "label": "lgtm"}')
