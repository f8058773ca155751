"""OTLP traces: JSON and protobuf give the same events; only model calls count, once each."""

import base64
import json
import time

import pytest
from distillguard.models.engine import Engine
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.intake import Format, Reason, decode_message
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES
from distillguard.stream.pipeline import Pipeline
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

NOW = time.time()
START_NS = 1793628191_520_000_000
ACCOUNTS = ("tenant.id", "enduser.id")


def kv(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}  # OTLP JSON: 64-bit integers as strings
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(span_id, name="chat m", kind=3, trace="ab" * 16, start=START_NS, **attrs):
    return {"traceId": trace, "spanId": span_id, "name": name, "kind": kind,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 250_000_000),
            "attributes": [kv(k.replace("__", "."), v) for k, v in attrs.items()], "status": {}}


def envelope(*resource_spans):
    return {"resourceSpans": [
        {"resource": {"attributes": [kv(k, v) for k, v in resource.items()]},
         "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}]}
        for resource, spans in resource_spans]}


CHAT = dict(gen_ai__operation__name="chat", gen_ai__request__model="large-2",
            gen_ai__usage__input_tokens=22, gen_ai__usage__output_tokens=1,
            gen_ai__request__temperature=0.0, gen_ai__request__max_tokens=1,
            gen_ai__request__seed=1234, gen_ai__response__finish_reasons=["length"],
            gen_ai__request__top_p=0.5, client__address="203.0.113.9, 10.0.0.2",
            http__response__status_code=200, url__path="/v1/chat/completions",
            user_agent__original="openai-python/1.54.3")
# the previous conventions (v1.30 and before): gen_ai.system, prompt/completion tokens
OLD = dict(gen_ai__system="openai", gen_ai__request__model="small-1",
           gen_ai__usage__prompt_tokens=5, gen_ai__usage__completion_tokens=9,
           gen_ai__openai__request__seed=7)
BATCH = envelope(
    ({"service.name": "chatbot", "tenant.id": "acme"}, [
        span("01" * 8, **CHAT, gen_ai__response__id="resp-1"),
        span("02" * 8, name="GET /health", kind=2, http__response__status_code=200),
        span("03" * 8, **OLD, gen_ai__response__id="resp-2", start=START_NS + 10**9),
        span("04" * 8, name="execute_tool lookup", gen_ai__operation__name="execute_tool"),
    ]),
    ({"service.name": "other"}, [  # no tenant on this resource: the span's enduser.id
        span("05" * 8, **CHAT, gen_ai__response__id="resp-3", enduser__id="u-9"),
        span("06" * 8, **CHAT),  # no account anywhere, no response id
    ]),
)


def to_proto(obj: dict) -> bytes:
    """The same request as protobuf; OTLP JSON ids are hex, protobuf JSON mapping base64."""
    obj = json.loads(json.dumps(obj))
    for rs in obj["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["traceId"] = base64.b64encode(bytes.fromhex(s["traceId"])).decode()
                s["spanId"] = base64.b64encode(bytes.fromhex(s["spanId"])).decode()
    return json_format.ParseDict(obj, ExportTraceServiceRequest()).SerializeToString()


@pytest.mark.parametrize("fmt, payload", [(Format.OTLP_JSON, json.dumps(BATCH).encode()),
                                          (Format.OTLP_PROTO, to_proto(BATCH))])
def test_batch_maps_model_calls_and_counts_the_rest(fmt, payload):
    decoded = decode_message(payload, fmt, NOW, ACCOUNTS)
    by_id = {e.event_id: e for e in decoded.events}
    assert sorted(by_id) == ["resp-1", "resp-2", "resp-3"]
    assert decoded.skipped == {"not_genai": 1, "not_model_call": 1}
    assert [d.reason for d in decoded.dead] == [Reason.MISSING_ACCOUNT]
    assert "tenant.id, enduser.id" in decoded.dead[0].error
    assert "--account-attribute" in decoded.dead[0].error

    e = by_id["resp-1"]
    assert (e.account_id, e.model, e.input_tokens, e.output_tokens) == ("acme", "large-2", 22, 1)
    assert e.timestamp == START_NS // 1_000_000 and e.ts == pytest.approx(START_NS / 1e9)
    assert (e.params.temperature, e.params.max_tokens, e.params.seed, e.params.top_p) == (0.0, 1, 1234, 0.5)
    assert (e.finish_reason, e.status_code, e.source_ip) == ("length", 200, "203.0.113.9")
    assert (e.endpoint, e.user_agent) == ("/v1/chat/completions", "openai-python/1.54.3")
    assert e.latency_ms == pytest.approx(250.0)
    old = by_id["resp-2"]
    assert (old.model, old.input_tokens, old.output_tokens, old.params.seed) == ("small-1", 5, 9, 7)
    assert old.ts == pytest.approx(START_NS / 1e9 + 1)
    assert by_id["resp-3"].account_id == "u-9" and by_id["resp-3"].user_id == "u-9"


def test_account_attribute_order_and_resource_fallback():
    payload = json.dumps(BATCH).encode()
    by_service = decode_message(payload, Format.OTLP_JSON, NOW, ("service.name",))
    assert sorted(e.account_id for e in by_service.events) == ["chatbot", "chatbot", "other", "other"]
    enduser_first = decode_message(payload, Format.OTLP_JSON, NOW, ("enduser.id", "service.name"))
    assert sorted(e.account_id for e in enduser_first.events) == ["chatbot", "chatbot", "other", "u-9"]


def test_spans_of_one_call_count_once_and_the_client_span_is_kept():
    """LiteLLM's proxy stamps one litellm.call_id on the server span and the model-call span."""
    server = span("0a" * 8, name="POST /v1/chat/completions", kind=2, gen_ai__operation__name="acompletion",
                  litellm__call_id="call-1", gen_ai__request__model="m", tenant__id="t")
    client = span("0b" * 8, kind=3, litellm__call_id="call-1", tenant__id="t", **CHAT)
    other = span("0c" * 8, kind=3, litellm__call_id="call-2", tenant__id="t", **CHAT)
    decoded = decode_message(json.dumps(envelope(({}, [server, client, other]))).encode(),
                             Format.OTLP_JSON, NOW, ACCOUNTS)
    assert sorted(e.event_id for e in decoded.events) == ["call-1", "call-2"]
    assert decoded.skipped == {"duplicate_span": 1}
    assert next(e for e in decoded.events if e.event_id == "call-1").input_tokens == 22  # the client span


def test_per_span_messages_of_one_call_are_one_event_in_the_pipeline():
    server = span("0a" * 8, kind=2, gen_ai__operation__name="acompletion", litellm__call_id="c1",
                  gen_ai__request__model="m", tenant__id="t")
    client = span("0b" * 8, kind=3, litellm__call_id="c1", tenant__id="t", **CHAT)
    health = span("0d" * 8, name="GET /health", kind=2)
    metrics, dead = Metrics(), ListSink()
    pipe = Pipeline(Engine({}), metrics, dead, ListSink(), fmt=Format.OTLP_JSON,
                    account_attributes=ACCOUNTS)
    for i, s in enumerate((server, client, health)):
        pipe.handle(json.dumps(envelope(({}, [s]))).encode(), ("spans.jsonl", i + 1))
    value = metrics.registry.get_sample_value
    assert value("distillguard_events_scored_total") == 1
    assert value("distillguard_events_duplicate_total") == 1
    assert value("distillguard_spans_skipped_total", {"reason": "not_genai"}) == 1
    assert value("distillguard_events_consumed_total") == 3 and not dead.items


def test_string_encoded_values_from_litellm_and_zipkin():
    """LiteLLM and Zipkin send every attribute as a string: numbers, booleans, lists."""
    zipkin = [{"traceId": "ab" * 16, "id": "01" * 8, "kind": "CLIENT", "name": "chat m",
               "timestamp": START_NS // 1000, "duration": 5000,
               "localEndpoint": {"serviceName": "proxy"},
               "tags": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                        "gen_ai.usage.input_tokens": "22", "gen_ai.request.temperature": "0.7",
                        "gen_ai.response.finish_reasons": "['stop']", "llm.is_streaming": "True",
                        "gen_ai.response.id": "r1", "otel.status_code": "ERROR",
                        "error": "Error code: 429 - rate limited"}},
              {"traceId": "ab" * 16, "id": "02" * 8, "kind": "SERVER", "name": "GET /", "tags": {}}]
    decoded = decode_message(json.dumps(zipkin).encode(), Format.ZIPKIN_JSON, NOW, ("service.name",))
    [e] = decoded.events
    assert (e.account_id, e.input_tokens, e.params.temperature, e.params.stream) == ("proxy", 22, 0.7, True)
    assert (e.finish_reason, e.status_code, e.latency_ms) == ("stop", 429, 5.0)
    assert e.ts == pytest.approx(START_NS / 1e9, abs=1e-3) and decoded.skipped == {"not_genai": 1}


def test_sdk_to_json_span_from_the_real_sdk():
    """The ConsoleSpanExporter shape: ReadableSpan.to_json() of a real SDK span."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "bot", "tenant.id": "acme"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("chat m", kind=SpanKind.CLIENT) as s:
        s.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                          "gen_ai.usage.input_tokens": 3, "gen_ai.response.finish_reasons": ("stop",)})
    provider.shutdown()
    [finished] = exporter.get_finished_spans()
    line = json.dumps(json.loads(finished.to_json())).encode()
    decoded = decode_message(line, Format.AUTO, NOW, DEFAULT_ACCOUNT_ATTRIBUTES)
    [e] = decoded.events
    assert (e.account_id, e.input_tokens, e.finish_reason) == ("acme", 3, "stop")
    assert e.ts == pytest.approx(finished.start_time / 1e9, abs=1e-3)
    assert e.event_id == f"{finished.context.trace_id:032x}-{finished.context.span_id:016x}"
