"""One span, whatever encoding it arrived in (OTLP JSON or protobuf, the SDK's JSON, Zipkin).

Decoders (stream/intake/otlp.py, zipkin.py) flatten attributes to plain Python values so the
GenAI mapping (stream/intake/genai.py) reads one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OTLP's Span.SpanKind numbers; the SDK and Zipkin name them instead.
KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS_ERROR = 2  # OTLP Status.code: 0 unset, 1 ok, 2 error


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    name: str = ""
    kind: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    status_code: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


class SpanFormatError(ValueError):
    """The payload does not have the shape of its declared format; the text names the missing piece."""


def kind_number(value: Any) -> int:
    """3, "SPAN_KIND_CLIENT", "SpanKind.CLIENT" and "CLIENT" are all CLIENT."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return KINDS.get(value.rsplit(".", 1)[-1].removeprefix("SPAN_KIND_").upper(), 0)
    return 0


def nanos(value: Any) -> int | None:
    """OTLP JSON encodes 64-bit integers as strings."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
