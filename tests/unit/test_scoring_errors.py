"""An error while scoring one event dead-letters that event (`scoring_error`) and puts the
account's profile back as it was before the event; the stream goes on."""

from __future__ import annotations

import json
import time

import pytest
from distillguard.models.engine import Engine
from distillguard.models.profile import AccountProfile, profile_decoder, profile_encoder
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.intake import DeadLetter, Reason, parse_event
from distillguard.stream.pipeline import Pipeline

from tests.helpers import chat_events, raw


class EncodingTable(dict):
    """Like the worker's changelog-backed table: a profile is encoded whenever it is stored,
    so a value msgpack cannot hold fails at `table[k] = v`, as it did in the worker."""

    def __setitem__(self, key, value):
        profile_encoder.encode(value)
        super().__setitem__(key, value)


def _pipeline(profiles=None, restore_profiles=True):
    profiles = {} if profiles is None else profiles
    dlq, outputs = ListSink(), ListSink()
    pipeline = Pipeline(Engine(profiles), Metrics(), dlq, outputs, clock=time.time,
                        restore_profiles=restore_profiles)
    return pipeline, profiles, dlq


def _count(pipeline, name, **labels):
    return pipeline.metrics.registry.get_sample_value(name, labels or None) or 0


def _feed(pipeline, events):
    for i, e in enumerate(events):
        pipeline.handle(raw(e), ("events.jsonl", i + 1))


@pytest.mark.parametrize("where", ["raises", "unencodable"])
def test_a_failing_event_is_dead_lettered_and_the_profile_restored(monkeypatch, where):
    pipeline, profiles, dlq = _pipeline(EncodingTable())
    events = chat_events("acct-a", 30)
    _feed(pipeline, events[:10])
    before = profile_encoder.encode(profiles["acct-a"])
    real_update = AccountProfile.update

    def broken_update(self, event, model_is_new=False, norms=None, **more):
        real_update(self, event, model_is_new)
        if event.event_id == events[10]["event_id"]:
            if where == "raises":
                self.events += 1000  # half-done work that must not stay
                raise ZeroDivisionError("injected")
            self.input_tokens = 2**70  # what an unbounded integer did: breaks the changelog

    monkeypatch.setattr(AccountProfile, "update", broken_update)
    _feed(pipeline, [events[10]])
    assert profile_encoder.encode(profiles["acct-a"]) == before  # exactly as before the event
    [record] = dlq.items
    assert record.reason == "scoring_error"
    assert record.error.startswith("ZeroDivisionError" if where == "raises" else "OverflowError")
    assert json.loads(record.original)["event_id"] == events[10]["event_id"]
    assert record.source == {"file": "events.jsonl", "line": 1}
    _feed(pipeline, events[11:])  # the account's later events are scored as usual
    assert profiles["acct-a"].events == 29
    assert _count(pipeline, "distillguard_events_scored_total") == 29
    assert _count(pipeline, "distillguard_events_dead_lettered_total", reason="scoring_error") == 1
    assert _count(pipeline, "distillguard_events_consumed_total") == 30
    profile_decoder.decode(profile_encoder.encode(profiles["acct-a"]))


def test_a_failing_first_event_leaves_no_profile(monkeypatch):
    pipeline, profiles, dlq = _pipeline()

    def broken_update(self, event, model_is_new=False, norms=None, **more):
        raise KeyError("injected")

    monkeypatch.setattr(AccountProfile, "update", broken_update)
    [e] = chat_events("acct-new", 1)
    parsed = parse_event(raw(e), time.time())
    assert pipeline.score(parsed) is None  # called as the worker does: no raw bytes at hand
    assert "acct-new" not in profiles
    [record] = dlq.items
    assert record.reason == "scoring_error" and json.loads(record.original)["account_id"] == "acct-new"
    assert record.source == {"event_id": e["event_id"], "account_id": "acct-new"}


def test_an_integer_above_2_64_is_out_of_range_and_the_account_keeps_scoring():
    """The issue's poison: it used to pass validation and break the account's profile."""
    pipeline, profiles, dlq = _pipeline(EncodingTable())
    events = chat_events("acct-b", 20)
    events[5]["input_tokens"] = 2**64 + 5
    result = parse_event(raw(events[5]), time.time())
    assert isinstance(result, DeadLetter) and result.reason is Reason.OUT_OF_RANGE
    _feed(pipeline, events)
    assert [r.reason for r in dlq.items] == ["out_of_range"]
    assert _count(pipeline, "distillguard_events_scored_total") == 19
    assert profiles["acct-b"].events == 19


@pytest.mark.parametrize("where", ["raises", "unencodable"])
def test_without_snapshots_a_profile_stays_only_if_encodable(monkeypatch, where):
    """The file replay's cheaper mode: no copy per event; never a profile that cannot be stored."""
    pipeline, profiles, dlq = _pipeline(restore_profiles=False)
    events = chat_events("acct-r", 20)
    _feed(pipeline, events[:10])
    real_update = AccountProfile.update

    def broken_update(self, event, model_is_new=False, norms=None, **more):
        real_update(self, event, model_is_new)
        if event.event_id == events[10]["event_id"]:
            if where == "unencodable":
                self.input_tokens = 2**70
            raise RuntimeError("injected")

    monkeypatch.setattr(AccountProfile, "update", broken_update)
    _feed(pipeline, events[10:])
    assert [r.reason for r in dlq.items] == ["scoring_error"]
    profile_encoder.encode(profiles["acct-r"])
    # kept with the failed event's partial update, or started afresh when it could not be kept
    assert profiles["acct-r"].events == (20 if where == "raises" else 9)
