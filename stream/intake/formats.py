"""Declared input formats: one message (a Kafka value, a file line, an HTTP body) -> events.

Each input declares its format, and a payload is judged by that format only: a message that does
not fit gets a `wrong_format` dead letter naming the format and the missing piece. One message
may hold several requests (an OTLP batch, a JSON array, an ndjson body), so decoding returns a
list; spans that are not model calls are counted as skipped, not dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec
from distillguard.models.event import Event
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES, account_of, select_calls, to_record
from distillguard.stream.intake.litellm import DEAD_LETTER_KEY
from distillguard.stream.intake.otlp import spans_from_otlp_json, spans_from_otlp_proto
from distillguard.stream.intake.parse import (
    MAX_EVENT_BYTES,
    DeadLetter,
    Reason,
    check_event,
    convert_record,
    parse_event,
)
from distillguard.stream.intake.spans import Span, SpanFormatError
from distillguard.stream.intake.zipkin import spans_from_zipkin

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a batch may be larger than one event may be


class Format(StrEnum):
    CONTRACT = "contract"
    OTLP_JSON = "otlp-json"
    OTLP_PROTO = "otlp-proto"
    ZIPKIN_JSON = "zipkin-json"
    LITELLM = "litellm"
    AUTO = "auto"  # sniffed per message; for files


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)   # by reason: not_genai, ...
    dead: list[DeadLetter] = field(default_factory=list)


_any = msgspec.json.Decoder()


def parse_format(text: str) -> Format:
    try:
        return Format(text)
    except ValueError:
        raise ValueError(f"unknown format {text!r}; known: {', '.join(f.value for f in Format)}") from None


def account_attribute_list(text: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """DISTILLGUARD_ACCOUNT_ATTRIBUTES / --account-attribute; empty means the defaults."""
    names = text.split(",") if isinstance(text, str) else (text or ())
    names = tuple(n.strip() for n in names if n.strip())
    return names or DEFAULT_ACCOUNT_ATTRIBUTES


def input_formats(input_topic: str, input_format: str, extra_inputs: str) -> dict[str, Format]:
    """Topic -> declared format, from DISTILLGUARD_INPUT_FORMAT and DISTILLGUARD_EXTRA_INPUTS."""
    formats = {input_topic: parse_format(input_format)}
    for item in (i.strip() for i in extra_inputs.split(",") if i.strip()):
        topic, sep, fmt = item.partition("=")
        if not sep or not topic.strip():
            raise ValueError(f"DISTILLGUARD_EXTRA_INPUTS: {item!r} is not topic=format")
        formats[topic.strip()] = parse_format(fmt.strip())
    if Format.AUTO in formats.values():
        raise ValueError("format auto is for files; declare each topic's format")
    return formats


def _documents(raw: bytes) -> list[Any]:
    """One JSON document, or an ndjson body (one document per non-blank line)."""
    try:
        return [_any.decode(raw)]
    except msgspec.DecodeError:
        if b"\n" not in raw:
            raise
    return [_any.decode(line) for line in raw.splitlines() if line.strip()]


def sniff(raw: bytes) -> Format:
    """The format of one message, from its first bytes and keys."""
    head = raw.lstrip()[:1]
    if head not in (b"{", b"["):
        return Format.OTLP_PROTO
    try:
        doc = _documents(raw)[0]
    except msgspec.DecodeError:
        return Format.CONTRACT  # the contract path names the JSON error
    first = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(first, dict):
        return Format.CONTRACT
    if "resourceSpans" in first or ("context" in first and "start_time" in first):
        return Format.OTLP_JSON
    if "traceId" in first and ("tags" in first or "localEndpoint" in first):
        return Format.ZIPKIN_JSON
    if "startTime" in first and "id" in first and "event_id" not in first:
        return Format.LITELLM
    return Format.CONTRACT


def with_format_hint(raw: bytes, dead: DeadLetter) -> DeadLetter:
    """A contract dead letter of a payload that looks like another format says so, instead of
    only "missing event_id" for an OTLP envelope. Only on the failure path."""
    if dead.reason not in (Reason.MISSING_FIELD, Reason.NOT_AN_OBJECT, Reason.INVALID_JSON):
        return dead
    looks = sniff(raw)
    if looks is Format.CONTRACT:
        return dead
    if looks is Format.OTLP_PROTO:  # not JSON at all: say protobuf only if it parses as OTLP
        try:
            spans_from_otlp_proto(raw)
        except SpanFormatError:
            return dead
    return DeadLetter(dead.reason, f"{dead.error}; the payload looks like {looks}: declare the "
                                   "input's format (--format, DISTILLGUARD_INPUT_FORMAT)")


def decode_message(raw: bytes, fmt: Format, now: float,
                   account_attributes: tuple[str, ...] = DEFAULT_ACCOUNT_ATTRIBUTES) -> Decoded:
    """Events, skipped spans and dead letters of one message declared as `fmt`."""
    if fmt is Format.AUTO:
        fmt = sniff(raw)
    if fmt is Format.CONTRACT:
        result = parse_event(raw, now)
        if isinstance(result, Event):
            return Decoded([result])
        several = ((result.reason is Reason.NOT_AN_OBJECT and raw.lstrip()[:1] == b"[")
                   or (result.reason in (Reason.INVALID_JSON, Reason.TRAILING_DATA)
                       and b"\n" in raw.strip()))
        if not several:  # one object: the contract's own verdict
            return Decoded(dead=[with_format_hint(raw, result)])
        decoded = _records(raw, now, "contract", _elements)
        if not decoded.events and all(d.reason is Reason.NOT_AN_OBJECT for d in decoded.dead):
            return Decoded(dead=[result])  # `[1, 2]` is one message that is not an event
        return decoded
    if len(raw) > MAX_MESSAGE_BYTES:
        return Decoded(dead=[DeadLetter(Reason.TOO_LARGE,
                                        f"{fmt}: message is {len(raw)} bytes, limit {MAX_MESSAGE_BYTES}")])
    if fmt is Format.LITELLM:
        from distillguard.stream.intake.litellm import litellm_records
        return _records(raw, now, "litellm", litellm_records)
    try:
        if fmt is Format.OTLP_PROTO:
            spans = spans_from_otlp_proto(raw)
        else:
            reader = spans_from_otlp_json if fmt is Format.OTLP_JSON else spans_from_zipkin
            spans = [s for doc in _documents(raw) for s in reader(doc)]
    except msgspec.DecodeError as err:
        return Decoded(dead=[DeadLetter(Reason.INVALID_JSON, f"{fmt}: invalid JSON: {err}")])
    except SpanFormatError as err:
        return Decoded(dead=[DeadLetter(Reason.WRONG_FORMAT, str(err))])
    return decode_spans(spans, now, account_attributes, origin=str(fmt))


def decode_spans(spans: list[Span], now: float, account_attributes: tuple[str, ...],
                 origin: str) -> Decoded:
    """The model-call spans as validated events (stream/intake/genai.py has the rule)."""
    calls, skipped = select_calls(spans)
    out = Decoded(skipped=skipped)
    for span in calls:
        account = account_of(span, account_attributes)
        if account is None:
            out.dead.append(DeadLetter(Reason.MISSING_ACCOUNT, (
                f"{origin}: span {span.span_id} ({span.name!r}) has none of the account attributes "
                f"{', '.join(account_attributes)}; name the one your spans carry with "
                "--account-attribute or DISTILLGUARD_ACCOUNT_ATTRIBUTES")))
            continue
        _add(out, convert_record(to_record(span, account), f"{origin} span {span.span_id}"), now)
    return out


def _elements(doc: Any) -> list:
    return doc if isinstance(doc, list) else [doc]


def _records(raw: bytes, now: float, origin: str, mapper) -> Decoded:
    """JSON documents of contract-shaped dicts (after `mapper`), each validated."""
    try:
        docs = _documents(raw)
    except msgspec.DecodeError as err:
        return Decoded(dead=[DeadLetter(Reason.INVALID_JSON, f"{origin}: invalid JSON: {err}")])
    out = Decoded()
    for record in (r for doc in docs for r in mapper(doc)):
        if isinstance(record, dict) and DEAD_LETTER_KEY in record:  # the mapper says why not
            out.dead.append(DeadLetter(Reason.MISSING_ACCOUNT, str(record[DEAD_LETTER_KEY])))
        elif isinstance(record, dict):
            _add(out, convert_record(record, origin), now)
        else:
            out.dead.append(DeadLetter(Reason.NOT_AN_OBJECT,
                                       f"{origin}: expected an object, got {type(record).__name__}"))
    return out


def _add(out: Decoded, result: Event | DeadLetter, now: float) -> None:
    if isinstance(result, Event):
        result = check_event(result, now)
    (out.events if isinstance(result, Event) else out.dead).append(result)


__all__ = ["MAX_EVENT_BYTES", "Decoded", "Format", "account_attribute_list", "decode_message",
           "input_formats", "parse_format", "sniff", "with_format_hint"]
