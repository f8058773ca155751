"""Intake cannot crash: every byte string is an event or a dead letter with a reason, and the
counts of a replay add up (scored + dead-lettered + duplicates = non-blank lines).

A hypothesis property test over arbitrary bytes and arbitrary JSON, and a mutation fuzz over
valid events (truncation anywhere, trailing bytes, two objects on a line, random bytes, deep
nesting, huge numbers, wrong types, invalid UTF-8), run through `score`'s replay path.
"""

from __future__ import annotations

import json
import random
import time

import msgspec
import pytest
from click.testing import CliRunner
from distillguard.models.engine import Engine
from distillguard.models.profile import profile_encoder
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.cli import main
from distillguard.stream.intake import DeadLetter, Reason, parse_event
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.replay import replay_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import chat_events, event, harvester_events, raw

NOW = time.time()
INT_FIELDS = ["asn", "status_code", "input_tokens", "output_tokens", "reasoning_tokens"]
PARAM_INTS = ["max_tokens", "n", "top_logprobs", "logit_bias", "seed", "tools"]
PROMPT_INTS = ["chars", "messages"]
WRONG_VALUES = [None, True, 1.5, -1, "x", "", [], [1, "a"], {}, {"a": {"b": 1}}, 2**64 + 1]


def valid_events() -> list[dict]:
    """Contract events with every optional field somewhere: the seeds of the mutations."""
    full = event("acct-full", api_key_id="key_7f3a", user_id="u-1", source_ip="198.51.100.23",
                 asn=64500, country="DE", user_agent="openai-python/1.54.3",
                 endpoint="/v1/chat/completions", model="large-2", status_code=200,
                 latency_ms=2311.4, input_tokens=412, output_tokens=388, reasoning_tokens=10,
                 finish_reason="stop", payment_fingerprint="card-1",
                 account_created_at="2026-10-01T00:00:00Z",
                 params={"temperature": 0.7, "top_p": 0.9, "max_tokens": 1024, "n": 1,
                         "logprobs": True, "top_logprobs": 5, "logit_bias": 3, "stream": True,
                         "seed": 7, "tools": 2, "response_format": "json"},
                 prompt={"text": "Tighten this paragraph, please.", "sha256": "a" * 64,
                         "simhash": "8f3a0c5d9e1b2270", "chars": 31, "messages": 3,
                         "system_sha256": "b" * 64})
    return [full, *harvester_events("acct-h", 20), *chat_events("acct-c", 20)]


def _assert_outcome(result) -> None:
    """The only two outcomes, and a dead letter always names its reason and says why."""
    if isinstance(result, DeadLetter):
        assert isinstance(result.reason, Reason) and result.error
    else:
        profile_encoder.encode(result)  # a valid event holds only encodable values


# -- property tests ---------------------------------------------------------------------------

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_are_an_event_or_a_dead_letter(data):
    _assert_outcome(parse_event(data, NOW))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
FIELDS = ["event_id", "timestamp", "account_id", "source_ip", "account_created_at", *INT_FIELDS,
          "latency_ms", "params", "prompt", "model", "startTime", "id", "metadata", "attributes",
          "gen_ai.request.model", "startTimeUnixNano"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10), st.booleans())
def test_any_json_object_is_an_event_or_a_dead_letter(obj, with_required):
    """Objects with the contract's (and the adapters') field names and arbitrary values."""
    if with_required:
        obj = {"event_id": "e", "timestamp": 1793491200000, "account_id": "a", **obj}
    result = parse_event(json.dumps(obj).encode(), NOW)
    _assert_outcome(result)
    if not isinstance(result, DeadLetter):
        pipeline, _, _ = _pipeline()
        assert pipeline.score(result) is not None  # valid means scoreable


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(INT_FIELDS + ["p." + f for f in PARAM_INTS] + ["q." + f for f in PROMPT_INTS]),
       st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([10**400, -(10**400)]))
def test_any_integer_is_encodable_or_out_of_range(field, value):
    obj = event("acct-int", params={}, prompt={})
    if field.startswith("p."):
        obj["params"][field[2:]] = value
    elif field.startswith("q."):
        obj["prompt"][field[2:]] = value
    else:
        obj[field] = value
    result = parse_event(raw(obj), NOW)
    _assert_outcome(result)
    if isinstance(result, DeadLetter):
        assert result.reason in (Reason.OUT_OF_RANGE, Reason.WRONG_TYPE), result
    else:
        pipeline, profiles, _ = _pipeline()
        pipeline.score(result)
        profile_encoder.encode(profiles["acct-int"])


# -- mutation fuzz over valid events -----------------------------------------------------------

def _set(obj: dict, path: str, value) -> dict:
    obj = json.loads(json.dumps(obj))
    *parents, leaf = path.split(".")
    target = obj
    for name in parents:
        target = target.setdefault(name, {})
    target[leaf] = value
    return obj


ANY = "either outcome"  # e.g. null for an optional field is valid, [1] is not


def mutations(base: dict, rng: random.Random) -> list[tuple[bytes, set[Reason] | str | None]]:
    """(bytes, the reasons it may get; None = a valid event; ANY) for one valid event."""
    good = raw(base)
    out: list[tuple[bytes, set[Reason] | str | None]] = [(good, None)]
    for cut in sorted(rng.sample(range(1, len(good)), min(12, len(good) - 1))):
        out.append((good[:cut], {Reason.TRUNCATED}))
    out += [(good + b" x", {Reason.TRAILING_DATA}), (good + good, {Reason.TRAILING_DATA}),
            (good + b",", {Reason.TRAILING_DATA}), (good + b"  ", None),
            (bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))), ANY),
            (b"[" * 50_000, {Reason.TOO_DEEP}),
            (good[:-1] + b', "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", {Reason.TOO_DEEP}),
            (good.replace(b'"account_id": "', b'"account_id": "\xff', 1), {Reason.INVALID_UTF8}),
            (good[:-1] + b', "latency_ms": 1e999}', {Reason.OUT_OF_RANGE}),
            (good[:-1] + b', "unknown": 1e999}', None),
            (b"\x1f\x8b\x08\x00" + good, {Reason.COMPRESSED})]
    for field in INT_FIELDS:
        for huge in (2**64 + 1, 10**30, -(2**64)):
            out.append((raw(_set(base, field, huge)), {Reason.OUT_OF_RANGE}))
    for field in PARAM_INTS:
        out.append((raw(_set(base, f"params.{field}", 2**64 + 1)), {Reason.OUT_OF_RANGE}))
    for field in PROMPT_INTS:
        out.append((raw(_set(base, f"prompt.{field}", 2**64 + 1)), {Reason.OUT_OF_RANGE}))
    for field in ["event_id", "timestamp", "account_id", "source_ip", "country", "params",
                  "prompt", "params.temperature", "params.logprobs", "prompt.sha256", *INT_FIELDS]:
        value = rng.choice(WRONG_VALUES)
        out.append((raw(_set(base, field, value)), ANY))
    return out


def _pipeline():
    profiles: dict = {}
    dlq, outputs = ListSink(), ListSink()
    return Pipeline(Engine(profiles), Metrics(), dlq, outputs), profiles, dlq


def test_mutations_get_the_reason_that_names_them():
    rng = random.Random(10)
    checked = 0
    for base in valid_events():
        for payload, reasons in mutations(base, rng):
            result = parse_event(payload, NOW)
            _assert_outcome(result)
            if reasons is None:
                assert not isinstance(result, DeadLetter), (payload[:200], result)
            elif reasons is not ANY:
                assert isinstance(result, DeadLetter), payload[:200]
                assert result.reason in reasons, (payload[:200], result)
            checked += 1
    assert checked > 2000


def _count(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels or None) or 0


def test_replay_of_a_fuzzed_file_accounts_for_every_line(tmp_path):
    """Through `score`'s replay path: no exception, and every line is scored, dead-lettered or
    a duplicate; the accounts' profiles stay encodable."""
    rng = random.Random(11)
    lines = []
    for base in valid_events():
        lines += [p for p, _ in mutations(base, rng)]
    lines = [line for line in lines if b"\n" not in line and line.strip()]
    rng.shuffle(lines)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = replay_file(path, ListSink(), tmp_path / "fuzz.dlq.jsonl", progress=False)
    m = result.metrics
    scored = _count(m, "distillguard_events_scored_total")
    duplicates = _count(m, "distillguard_events_duplicate_total")
    dead = sum(_count(m, "distillguard_events_dead_lettered_total", reason=r.value) for r in Reason)
    assert result.events == len(lines)
    assert _count(m, "distillguard_events_consumed_total") == len(lines)
    assert scored + duplicates + dead == len(lines)
    assert scored > 40 and dead > 1000
    assert _count(m, "distillguard_events_dead_lettered_total", reason="scoring_error") == 0
    dlq = [msgspec.json.decode(x) for x in (tmp_path / "fuzz.dlq.jsonl").read_bytes().splitlines()]
    assert len(dlq) == dead
    assert all(d["reason"] in {r.value for r in Reason} and d["error"] for d in dlq)
    for profile in result.profiles.values():
        profile_encoder.encode(profile)
    # and the command itself: exit 0, the summary counts what happened
    cli = CliRunner().invoke(main, ["score", str(path), "--out", str(tmp_path / "s.csv"),
                                    "--quiet"])
    assert cli.exit_code == 0, cli.output
    assert f"{dead:.0f} dead letters" in cli.output


@pytest.mark.parametrize("line", [
    b'{"event_id": "a", "timestamp": 1793491200000, "account_id": "b"} x',
    b'{"event_id": "a", "timestamp": 1793491200000, "account_id": "b"}{"a": 1}',
    b'{"event_id": "a", "timestamp": 1793491200000, "account_id": "b", "status_code": 20',
])
def test_issue_poison_lines_are_dead_letters_with_their_reason(line):
    result = parse_event(line, NOW)
    assert isinstance(result, DeadLetter)
    assert result.reason in (Reason.TRAILING_DATA, Reason.TRUNCATED)


def test_lines_longer_than_the_limit_are_cut_and_dead_lettered(tmp_path):
    """A file without newlines is not read into memory whole: the line is cut, dead-lettered."""
    path = tmp_path / "blob.jsonl"
    path.write_bytes(raw(event("acct-x")) + b"\n" + b"y" * (3 * 1024 * 1024) + b"\n"
                     + raw(event("acct-x")) + b"\n")
    result = replay_file(path, ListSink(), tmp_path / "blob.dlq.jsonl", progress=False)
    assert _count(result.metrics, "distillguard_events_scored_total") == 2
    [dead] = [json.loads(x) for x in (tmp_path / "blob.dlq.jsonl").read_text().splitlines()]
    assert dead["reason"] == "too_large" and dead["source"]["line"] == 2
    assert "3145728 bytes" in dead["error"] and len(dead["original"]) == 1024 * 1024 + 1
