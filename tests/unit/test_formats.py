"""Declared formats: a payload is judged by its input's format only, and one message may hold
several requests."""

import json
import time

import pytest
from distillguard.stream.intake import DeadLetter, Format, Reason, decode_message, parse_format
from distillguard.stream.intake.formats import account_attribute_list, input_formats, sniff

from tests.helpers import event, raw

NOW = time.time()
SLP = {"id": "litellm-1", "startTime": 1793628191.52, "model": "gpt-x",
       "prompt_tokens": 30, "completion_tokens": 1, "status": "success",
       "model_parameters": {"logprobs": True, "top_logprobs": 20, "max_tokens": 1,
                            "logit_bias": {"123": 5, "456": -5}},
       "requester_ip_address": "198.51.100.7",
       "metadata": {"user_api_key_hash": "hash1", "user_api_key_org_id": "org-1"}}
ENVELOPE = {"resourceSpans": [{"resource": {"attributes": [
    {"key": "tenant.id", "value": {"stringValue": "acme"}}]}, "scopeSpans": [{"spans": [{
        "traceId": "ab" * 16, "spanId": "cd" * 8, "name": "chat m", "kind": 3,
        "startTimeUnixNano": "1793628191520000000", "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "m"}}]}]}]}]}


def test_contract_is_the_default_and_keeps_its_own_verdict():
    ev = event("acct-a")
    assert [e.event_id for e in decode_message(raw(ev), Format.CONTRACT, NOW).events] == [ev["event_id"]]
    dead = decode_message(b'{"event_id": "x"}', Format.CONTRACT, NOW).dead
    assert [d.reason for d in dead] == [Reason.MISSING_FIELD]


def test_contract_no_longer_falls_back_to_adapters():
    """A LiteLLM payload on a contract input is a contract dead letter, not silently adapted."""
    decoded = decode_message(raw(SLP), Format.CONTRACT, NOW)
    assert not decoded.events and decoded.dead[0].reason is Reason.MISSING_FIELD
    assert "looks like litellm" in decoded.dead[0].error  # and says what to declare
    otlp = decode_message(raw(ENVELOPE), Format.CONTRACT, NOW).dead[0]
    assert "looks like otlp-json" in otlp.error and "DISTILLGUARD_INPUT_FORMAT" in otlp.error
    for plain in (b'{"event_id": "x"}', b"garbage", b"{not json"):
        assert "looks like" not in decode_message(plain, Format.CONTRACT, NOW).dead[0].error


def test_contract_array_and_ndjson_hold_several_requests():
    a, b, c = event("x"), event("y"), event("z")
    assert len(decode_message(raw([a, b, c]), Format.CONTRACT, NOW).events) == 3
    body = b"\n".join(raw(e) for e in (a, b)) + b"\n{bad"
    decoded = decode_message(body, Format.CONTRACT, NOW)
    assert decoded.dead and decoded.dead[0].reason is Reason.INVALID_JSON  # the body is one unit
    decoded = decode_message(b"\n".join(raw(e) for e in (a, b, c)), Format.CONTRACT, NOW)
    assert [e.account_id for e in decoded.events] == ["x", "y", "z"]
    assert [d.reason for d in decode_message(b"[1, 2]", Format.CONTRACT, NOW).dead] == [
        Reason.NOT_AN_OBJECT]  # the contract's example: one dead letter
    mixed = decode_message(raw([a, {"event_id": "only"}, 5]), Format.CONTRACT, NOW)
    assert len(mixed.events) == 1
    assert sorted(d.reason for d in mixed.dead) == [Reason.MISSING_FIELD, Reason.NOT_AN_OBJECT]


def test_litellm_payload_declared_as_litellm():
    decoded = decode_message(raw(SLP), Format.LITELLM, NOW)
    assert not decoded.dead, decoded.dead
    ev = decoded.events[0]
    assert (ev.account_id, ev.api_key_id, ev.status_code) == ("org-1", "hash1", 200)
    assert ev.params.logit_bias == 2 and ev.params.logprobs is True
    assert ev.ts == pytest.approx(1793628191.52)


def test_litellm_json_array_body_is_one_event_per_element():
    second = dict(SLP, id="litellm-2")
    assert [e.event_id for e in decode_message(raw([SLP, second]), Format.LITELLM, NOW).events] == [
        "litellm-1", "litellm-2"]


def test_mapped_output_is_still_validated():
    payload = {"id": "l2", "startTime": 1793628191.52, "model": "m", "prompt_tokens": -1,
               "metadata": {"user_api_key_org_id": "org"}}
    dead = decode_message(raw(payload), Format.LITELLM, NOW).dead
    assert len(dead) == 1 and dead[0].reason is Reason.OUT_OF_RANGE


@pytest.mark.parametrize("fmt, payload, words", [
    (Format.OTLP_JSON, raw(event("a")), ["otlp-json", "resourceSpans"]),
    (Format.OTLP_JSON, b"[1]", ["otlp-json", "resourceSpans", "list"]),
    (Format.OTLP_PROTO, b"\xff\xff\xff", ["otlp-proto", "ExportTraceServiceRequest"]),
    (Format.OTLP_PROTO, b"", ["otlp-proto", "resource_spans"]),
    (Format.ZIPKIN_JSON, raw(ENVELOPE), ["zipkin-json", "traceId"]),
])
def test_a_payload_that_does_not_fit_names_format_and_missing_piece(fmt, payload, words):
    decoded = decode_message(payload, fmt, NOW)
    assert not decoded.events and len(decoded.dead) == 1
    dead: DeadLetter = decoded.dead[0]
    assert dead.reason is Reason.WRONG_FORMAT
    for word in words:
        assert word in dead.error, (word, dead.error)
    assert "missing required field" not in dead.error


def test_invalid_json_on_a_json_format_names_the_format():
    dead = decode_message(b"{nope", Format.OTLP_JSON, NOW).dead[0]
    assert dead.reason is Reason.INVALID_JSON and dead.error.startswith("otlp-json")


@pytest.mark.parametrize("payload, fmt", [
    (raw(event("a")), Format.CONTRACT),
    (raw(ENVELOPE), Format.OTLP_JSON),
    (raw({"name": "s", "context": {"trace_id": "0x1"}, "start_time": "2026-12-01T00:00:00Z"}),
     Format.OTLP_JSON),
    (raw([{"traceId": "1", "id": "2", "tags": {}}]), Format.ZIPKIN_JSON),
    (raw(SLP), Format.LITELLM),
    (raw([SLP]), Format.LITELLM),
    (b"\n\x1e\n\x1c", Format.OTLP_PROTO),
    (b"{bad", Format.CONTRACT),
])
def test_sniffing(payload, fmt):
    assert sniff(payload) is fmt
    assert decode_message(payload, Format.AUTO, NOW) == decode_message(payload, fmt, NOW)


def test_settings_parsing():
    assert parse_format("otlp-proto") is Format.OTLP_PROTO
    with pytest.raises(ValueError, match=r"unknown format 'otlp'.*otlp-json"):
        parse_format("otlp")
    assert input_formats("in", "contract", " spans=otlp-proto, logs=litellm ") == {
        "in": Format.CONTRACT, "spans": Format.OTLP_PROTO, "logs": Format.LITELLM}
    with pytest.raises(ValueError, match="not topic=format"):
        input_formats("in", "contract", "spans")
    with pytest.raises(ValueError, match="auto is for files"):
        input_formats("in", "auto", "")
    assert account_attribute_list("a, b,,") == ("a", "b")
    assert account_attribute_list(("x",)) == ("x",)
    assert "tenant.id" in account_attribute_list("") and "enduser.id" in account_attribute_list(None)


def test_oversized_batch_is_a_dead_letter_naming_the_format():
    big = json.dumps({"resourceSpans": [], "pad": "x" * (17 * 1024 * 1024)}).encode()
    dead = decode_message(big, Format.OTLP_JSON, NOW).dead
    assert dead[0].reason is Reason.TOO_LARGE and "otlp-json" in dead[0].error


def test_pipeline_scores_a_contract_array_line_as_several_events():
    from distillguard.models.engine import Engine
    from distillguard.sinks.base import ListSink
    from distillguard.sinks.metrics import Metrics
    from distillguard.stream.pipeline import Pipeline

    metrics, dead = Metrics(), ListSink()
    pipe = Pipeline(Engine({}), metrics, dead, ListSink())
    pipe.handle(raw([event("p"), event("q")]), ("f.jsonl", 1))
    pipe.handle(raw(event("r")), ("f.jsonl", 2))
    pipe.handle(b"[1]", ("f.jsonl", 3))
    assert pipe.parse_all(raw([event("s")]), {"topic": "t"}) and pipe.parse_all(b"{x", {}) == []
    value = metrics.registry.get_sample_value
    assert value("distillguard_events_scored_total") == 3
    assert value("distillguard_events_consumed_total") == 5
    assert [d.reason for d in dead.items] == ["not_an_object", "invalid_json"]
