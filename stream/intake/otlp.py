"""OTLP traces -> `Span`s: the protobuf `ExportTraceServiceRequest` (the kafka exporter's default
`otlp_proto`, OTLP/HTTP bodies), its JSON mapping (file exporter, kafka `otlp_json`, per batch or
per span) and the Python SDK's own `ReadableSpan.to_json()` (ConsoleSpanExporter)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from distillguard.stream.intake.spans import Span, SpanFormatError, kind_number, nanos
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# -- OTLP JSON -----------------------------------------------------------------------------------

def json_value(value: Any) -> Any:
    """An OTLP JSON AnyValue as a Python value (intValue arrives as a string)."""
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return None
    if kind == "arrayValue":
        return [json_value(v) for v in (inner or {}).get("values", [])]
    if kind == "kvlistValue":
        return json_attributes((inner or {}).get("values", []))
    if kind == "bytesValue":
        return base64.b64decode(inner).hex() if isinstance(inner, str) else None
    return inner  # stringValue, boolValue, doubleValue


def json_attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {kv["key"]: json_value(kv.get("value")) for kv in items
            if isinstance(kv, dict) and isinstance(kv.get("key"), str)}


def spans_from_otlp_json(obj: Any) -> list[Span]:
    """An ExportTraceServiceRequest in OTLP JSON, or one SDK `to_json()` span."""
    if isinstance(obj, dict) and "resourceSpans" not in obj and "context" in obj:
        return [span_from_sdk_json(obj)]
    if not isinstance(obj, dict) or not isinstance(obj.get("resourceSpans"), list):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(obj)[:5]}"
        raise SpanFormatError("otlp-json: expected an object with a 'resourceSpans' array "
                              f"(ExportTraceServiceRequest) or an SDK span with 'context'; got {got}")
    out = []
    for rs in obj["resourceSpans"]:
        resource = json_attributes(((rs or {}).get("resource") or {}).get("attributes"))
        for ss in (rs or {}).get("scopeSpans") or (rs or {}).get("instrumentationLibrarySpans") or []:
            scope = ((ss or {}).get("scope") or {}).get("name", "")
            for s in (ss or {}).get("spans") or []:
                status = s.get("status") or {}
                out.append(Span(
                    trace_id=str(s.get("traceId", "")), span_id=str(s.get("spanId", "")),
                    name=str(s.get("name", "")), kind=kind_number(s.get("kind", 0)),
                    start_ns=nanos(s.get("startTimeUnixNano")), end_ns=nanos(s.get("endTimeUnixNano")),
                    status_code=kind_status(status.get("code", 0)),
                    status_message=str(status.get("message", "")),
                    attributes=json_attributes(s.get("attributes")), resource=resource, scope=scope))
    return out


def kind_status(code: Any) -> int:
    if isinstance(code, int):
        return code
    return {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2, "OK": 1, "ERROR": 2}.get(str(code), 0)


# -- the SDK's ReadableSpan.to_json() -------------------------------------------------------------

def _iso_nanos(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1_000_000) * 1000
    except ValueError:
        return None


def span_from_sdk_json(obj: dict) -> Span:
    context = obj.get("context") if isinstance(obj.get("context"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    resource = obj.get("resource") if isinstance(obj.get("resource"), dict) else {}
    if not context.get("trace_id") or obj.get("start_time") is None:
        raise SpanFormatError("otlp-json: an SDK span needs context.trace_id and start_time")
    return Span(
        trace_id=str(context["trace_id"]).removeprefix("0x"),
        span_id=str(context.get("span_id", "")).removeprefix("0x"),
        name=str(obj.get("name", "")), kind=kind_number(obj.get("kind")),
        start_ns=_iso_nanos(obj.get("start_time")), end_ns=_iso_nanos(obj.get("end_time")),
        status_code=kind_status(status.get("status_code", 0)),
        status_message=str(status.get("description") or ""),
        attributes=obj.get("attributes") if isinstance(obj.get("attributes"), dict) else {},
        resource=resource.get("attributes") if isinstance(resource.get("attributes"), dict) else {})


# -- OTLP protobuf --------------------------------------------------------------------------------

def proto_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [proto_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: proto_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def spans_from_otlp_proto(raw: bytes) -> list[Span]:
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except (DecodeError, ValueError) as err:
        raise SpanFormatError(f"otlp-proto: not an ExportTraceServiceRequest protobuf ({err})") from None
    if not request.resource_spans:
        raise SpanFormatError("otlp-proto: no resource_spans in the ExportTraceServiceRequest")
    return spans_from_request(request)


def spans_from_request(request: ExportTraceServiceRequest) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        resource = {kv.key: proto_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(Span(
                    trace_id=s.trace_id.hex(), span_id=s.span_id.hex(), name=s.name, kind=s.kind,
                    start_ns=s.start_time_unix_nano or None, end_ns=s.end_time_unix_nano or None,
                    status_code=s.status.code, status_message=s.status.message,
                    attributes={kv.key: proto_value(kv.value) for kv in s.attributes},
                    resource=resource, scope=ss.scope.name))
    return out
