"""The LiteLLM mapping (stream/intake/litellm.py) on hand-made and on real captured payloads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from distillguard.models.event import Event
from distillguard.models.simhash import prompt_sha256, simhash64
from distillguard.sinks.base import ListSink
from distillguard.stream.intake.litellm import (
    DEAD_LETTER_KEY,
    AccountRule,
    first_address,
    litellm_records,
    parse_litellm,
    slp_to_contract,
)
from distillguard.stream.intake.parse import DeadLetter
from distillguard.stream.replay import replay_file

PAYLOADS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-payloads"
NOW = 2_000_000_000.0  # after every capture (2026-12)


def slp(**over) -> dict:
    base = {
        "id": "chatcmpl-1", "call_type": "acompletion", "status": "success",
        "startTime": 1796146157.5, "endTime": 1796146158.0, "model": "openai/gpt-4o-mini",
        "model_group": "gpt-4o-mini", "prompt_tokens": 22, "completion_tokens": 1,
        "requester_ip_address": "203.0.113.9, 10.0.0.2", "user_agent": "OpenAI/Python 3.57.0",
        "end_user": None,
        "metadata": {"user_api_key_hash": "ab" * 32, "user_api_key_user_id": "u-alice",
                     "user_api_key_team_id": "team-r", "user_api_key_org_id": "org-acme",
                     "user_api_key_request_route": "/v1/chat/completions",
                     "usage_object": {"completion_tokens_details": {"reasoning_tokens": 7}}},
        "model_parameters": {"temperature": 0, "max_tokens": 1, "logprobs": True,
                             "top_logprobs": 20, "logit_bias": {"1": 5, "2": -5}, "seed": 3,
                             "tools": [{"type": "function"}], "user": "end-42"},
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Classify  the sentiment of: fine"}],
        "response": {"choices": [{"finish_reason": "length"}]},
        "error_information": {"error_code": "", "error_class": ""},
    }
    base.update(over)
    return base


def test_maps_every_field_the_payload_has():
    out = slp_to_contract(slp(), AccountRule(), include_text=False)
    assert out["account_id"] == "org-acme" and out["user_id"] == "u-alice"
    assert out["timestamp"] == 1796146157500 and out["latency_ms"] == 500.0
    assert out["source_ip"] == "203.0.113.9"
    assert (out["endpoint"], out["model"], out["status_code"]) == (
        "/v1/chat/completions", "gpt-4o-mini", 200)
    assert (out["finish_reason"], out["reasoning_tokens"], out["user_agent"]) == (
        "length", 7, "OpenAI/Python 3.57.0")
    assert out["params"] == {"temperature": 0, "max_tokens": 1, "logprobs": True,
                             "top_logprobs": 20, "logit_bias": 2, "seed": 3, "tools": 1}
    user_text = "Classify  the sentiment of: fine"
    assert out["prompt"] == {"messages": 1, "sha256": prompt_sha256(user_text),
                             "simhash": f"{simhash64(user_text):016x}", "chars": len(user_text),
                             "system_sha256": prompt_sha256("You are terse.")}
    assert "text" not in out["prompt"]
    assert slp_to_contract(slp(), AccountRule(), include_text=True)["prompt"]["text"] == user_text


def test_account_rule_order_and_failure_status():
    rule = AccountRule.parse("user,org")
    assert slp_to_contract(slp(), rule, False)["account_id"] == "u-alice"
    failed = slp(status="failure", error_information={"error_code": "429"})
    assert slp_to_contract(failed, AccountRule(), False)["status_code"] == 429
    with pytest.raises(ValueError, match="unknown source 'tenant'"):
        AccountRule.parse("org,tenant")


def test_master_key_goes_to_end_user_or_dead_letter_saying_what_to_configure():
    meta = {"user_api_key_hash": "litellm_proxy_master_key", "user_api_key_user_id": "default_user_id"}
    with_end_user = slp_to_contract(slp(metadata=meta, end_user="end-42"), AccountRule(), False)
    assert with_end_user["account_id"] == "end-42"
    alone = slp_to_contract(slp(metadata=meta, model_parameters={}), AccountRule(), False)
    assert "account_id" not in alone and "virtual key" in alone[DEAD_LETTER_KEY]
    single = slp_to_contract(slp(metadata=meta, model_parameters={}),
                             AccountRule.parse("org,team,user,end_user,static:my-app"), False)
    assert single["account_id"] == "my-app"


def test_invalid_forwarded_address_is_dropped_not_the_event():
    assert first_address("2001:db8::7") == "2001:db8::7"
    assert first_address("unknown, 10.0.0.2") is None
    [event] = parse_litellm(json.dumps(slp(requester_ip_address="not-an-ip")).encode(), NOW)
    assert isinstance(event, Event) and event.source_ip is None


def test_json_array_body_gives_one_record_per_element():
    records = litellm_records([slp(id="a"), slp(id="b"), {"x": 1}], AccountRule(), False)
    assert [r.get("event_id") for r in records] == ["a", "b", None]
    assert "not a StandardLoggingPayload" in records[2][DEAD_LETTER_KEY]


# ----------------------------------------------------------- real payloads (../shared) --------
def _bodies(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if path.name.endswith(".json"):
        return [data]  # one JSON array body (generic API logger)
    return [line for line in data.split(b"\n") if line.strip()]  # JSONL / ndjson body


def _expected(record: dict) -> bool:
    """Straight from the file: does the request carry an identity that can be the account?"""
    meta = record.get("metadata") or {}
    user = meta.get("user_api_key_user_id")
    return bool(meta.get("user_api_key_org_id") or meta.get("user_api_key_team_id")
                or (user and user != "default_user_id") or record.get("end_user")
                or (record.get("model_parameters") or {}).get("user"))


LITELLM_FILES = ["litellm/sdk_mock_response.slp.jsonl", "litellm/proxy_master_key.slp.jsonl",
                 "litellm/proxy_custom_auth.slp.jsonl", "litellm/proxy_generic_api_ndjson.body.jsonl",
                 "litellm/proxy_generic_api_json_array.body.json",
                 "derived/amplified_xff_chain.jsonl.gz", "derived/amp_logitbias_singleip.jsonl.gz",
                 "derived/amp_neardup_slp.jsonl.gz"]


@pytest.mark.parametrize("name", LITELLM_FILES)
def test_real_payload_files_score_one_event_per_request(name, tmp_path):
    path = PAYLOADS / name
    if not path.exists():
        pytest.skip(f"{path} absent (../shared not mounted)")
    records = [r for body in _bodies(path) for r in
               (json.loads(body) if isinstance(json.loads(body), list) else [json.loads(body)])]
    results = [r for body in _bodies(path) for r in parse_litellm(body, NOW)]
    assert len(results) == len(records)  # one result per request
    events = [r for r in results if isinstance(r, Event)]
    dead = [r for r in results if isinstance(r, DeadLetter)]
    assert len(events) == sum(map(_expected, records))
    # Only dead letters a user expects, each saying what it is about.
    assert all(d.error.startswith("litellm: ") for d in dead), [d.error for d in dead]
    assert sum(e.source_ip is not None for e in events) == sum(
        first_address(r.get("requester_ip_address")) is not None for r, ok in
        zip(records, map(_expected, records), strict=True) if ok)
    # And through the replay engine (what `score` runs): every mapped event is scored.
    lines = [json.dumps(r).encode() for body in _bodies(path) for r in
             litellm_records(json.loads(body), AccountRule(), False) if DEAD_LETTER_KEY not in r]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = replay_file(tmp_path / "in.jsonl", ListSink(), tmp_path / "dlq.jsonl", progress=False)
    value = result.metrics.registry.get_sample_value
    assert value("distillguard_events_scored_total") == len(events)
    assert result.dead_letter_path is None


def test_near_duplicate_sweep_scores_like_the_contract_events_with_text(tmp_path):
    """Done-when: the callback's mapping scores the sweep as the same requests written as
    contract events with prompt.text. With text enabled at the edge the events are the same, so
    the scores must be; with hashes only (the default) text-only signals are off, but the sweep
    must still be visible (it scored 0 before the mapping)."""
    slp_path = PAYLOADS / "derived/amp_neardup_slp.jsonl.gz"
    contract_path = PAYLOADS / "derived/amp_neardup_contract.jsonl.gz"
    if not slp_path.exists():
        pytest.skip(f"{slp_path} absent (../shared not mounted)")
    for text in (True, False):
        mapped = [json.dumps(r).encode() for body in _bodies(slp_path)
                  for r in litellm_records(json.loads(body), AccountRule(), include_text=text)]
        (tmp_path / f"slp-{text}.jsonl").write_bytes(b"\n".join(mapped) + b"\n")
    (tmp_path / "contract.jsonl").write_bytes(gzip.decompress(contract_path.read_bytes()))
    scores = {}
    for name in ("slp-True", "slp-False", "contract"):
        result = replay_file(tmp_path / f"{name}.jsonl", ListSink(), tmp_path / f"{name}.dlq",
                             progress=False)
        scores[name] = {a: (p.risk, [r.split(" (")[0] for r in p.reasons])
                        for a, p in result.profiles.items()}
    assert scores["slp-True"].keys() == scores["contract"].keys() == {"u-carol"}
    (risk_slp, reasons_slp), (risk_contract, reasons_contract) = (
        scores["slp-True"]["u-carol"], scores["contract"]["u-carol"])
    assert risk_contract > 20  # the sweep is visible at all (it scored 0 before the mapping)
    assert abs(risk_slp - risk_contract) <= 1.0
    assert reasons_slp == reasons_contract
    assert scores["slp-False"]["u-carol"][0] > 20  # hashes only: still seen


def test_old_adapter_interface_uses_the_same_mapping():
    from distillguard.stream.intake.litellm import from_litellm

    assert from_litellm({"not": "an slp"}) is None
    assert from_litellm(slp()) == slp_to_contract(slp(), AccountRule(), include_text=False)
