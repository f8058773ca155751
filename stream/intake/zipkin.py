"""Zipkin v2 JSON (the Collector kafka exporter's `zipkin_json`) -> `Span`s.

Zipkin has no resource: the Collector's translator folds resource and scope attributes into the
flat string map `tags` (service.name becomes `localEndpoint.serviceName`), so every tag is a span
attribute here and the service name is the only resource attribute.
"""

from __future__ import annotations

from typing import Any

from distillguard.stream.intake.spans import STATUS_ERROR, Span, SpanFormatError, kind_number


def spans_from_zipkin(obj: Any) -> list[Span]:
    items = obj if isinstance(obj, list) else [obj]
    out = []
    for item in items:
        if not isinstance(item, dict) or "traceId" not in item or "id" not in item:
            raise SpanFormatError("zipkin-json: expected a span object (or an array of them) with "
                                  f"'traceId' and 'id'; got {type(item).__name__}"
                                  + (f" with keys {sorted(item)[:5]}" if isinstance(item, dict) else ""))
        tags = item.get("tags") if isinstance(item.get("tags"), dict) else {}
        start_us, duration_us = item.get("timestamp"), item.get("duration")
        start = start_us * 1000 if isinstance(start_us, int) else None
        end = start + duration_us * 1000 if start is not None and isinstance(duration_us, int) else None
        endpoint = item.get("localEndpoint") if isinstance(item.get("localEndpoint"), dict) else {}
        error = tags.get("otel.status_code") == "ERROR" or "error" in tags
        out.append(Span(
            trace_id=str(item["traceId"]), span_id=str(item["id"]), name=str(item.get("name", "")),
            kind=kind_number(item.get("kind")), start_ns=start, end_ns=end,
            status_code=STATUS_ERROR if error else 0,
            status_message=str(tags.get("otel.status_description") or tags.get("error") or ""),
            attributes=dict(tags), scope=str(tags.get("otel.scope.name", "")),
            resource={"service.name": endpoint["serviceName"]} if endpoint.get("serviceName") else {}))
    return out
