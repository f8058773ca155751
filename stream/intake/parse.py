"""Parse and validate one raw event. Fast path: a single typed msgspec decode.

Every rejection carries one `Reason` (the dead-letter reason and the metric label) and a
message that says what was wrong and where.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from enum import StrEnum

import msgspec
from distillguard.models.event import Event
from distillguard.models.timestamps import TimestampError, to_epoch_seconds
from distillguard.stream.intake.guard import TOO_DEEP_MESSAGE, classify_decode_error

MAX_EVENT_BYTES = 1024 * 1024
MAX_FUTURE_SECONDS = 24 * 3600


class Reason(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_LARGE = "too_large"
    # hardening (issue 10): what exactly was wrong with bytes that are not JSON, and an event
    # whose scoring failed (a bug: the event is kept with the error instead of stopping the stream)
    TRUNCATED = "truncated"
    TRAILING_DATA = "trailing_data"
    INVALID_UTF8 = "invalid_utf8"
    COMPRESSED = "compressed"
    TOO_DEEP = "too_deep"
    EMPTY = "empty"
    SCORING_ERROR = "scoring_error"
    # declared formats (issue 9, stream/intake/formats.py)
    WRONG_FORMAT = "wrong_format"         # does not fit the input's declared format
    MISSING_ACCOUNT = "missing_account"   # a span with none of the configured account attributes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: Reason
    error: str


_typed_decoder = msgspec.json.Decoder(Event)
_any_decoder = msgspec.json.Decoder()
_RANGE_WORDS = re.compile(r"(>=|<=|>|<|length|match pattern)")


def _classify(err: msgspec.ValidationError) -> Reason:
    text = str(err)
    if text.startswith("Object missing required field"):
        return Reason.MISSING_FIELD
    if text.startswith("Expected `object`") and "- at `$" not in text:
        return Reason.NOT_AN_OBJECT
    if _RANGE_WORDS.search(text.split(" - at ")[0]) or "out of range" in text:
        return Reason.OUT_OF_RANGE
    return Reason.WRONG_TYPE


def _undecodable(raw: bytes, err: msgspec.DecodeError) -> DeadLetter:
    reason, message = classify_decode_error(raw, err)
    return DeadLetter(Reason(reason), message)


def _decode(raw: bytes) -> Event | DeadLetter:
    try:
        return _typed_decoder.decode(raw)
    except msgspec.ValidationError as typed_err:
        first_error = typed_err
    except msgspec.DecodeError as err:
        return _undecodable(raw, err)
    except RecursionError:
        return DeadLetter(Reason.TOO_DEEP, TOO_DEEP_MESSAGE)
    # Not a contract event as it stands. The typed decode stops at the first invalid field, so
    # the bytes may still be cut off or followed by more: the generic decode finds that out.
    try:
        _any_decoder.decode(raw)
    except msgspec.DecodeError as err:
        return _undecodable(raw, err)
    except msgspec.ValidationError:  # well-formed JSON with a number no type holds (1e999)
        pass
    except RecursionError:
        return DeadLetter(Reason.TOO_DEEP, TOO_DEEP_MESSAGE)
    return DeadLetter(_classify(first_error), str(first_error))


def convert_record(record: dict, origin: str) -> Event | DeadLetter:
    """A contract-shaped dict made by a format decoder (stream/intake/formats.py) -> Event."""
    try:
        return msgspec.convert(record, Event)
    except msgspec.ValidationError as err:
        return DeadLetter(_classify(err), f"{origin}: {err}")


_created_cache: dict[str | int, float] = {}


def _created_ts(value: str | int) -> float:
    """account_created_at repeats on every event of an account: parse each value once."""
    ts = _created_cache.get(value)
    if ts is None:
        if len(_created_cache) > 100_000:
            _created_cache.clear()
        ts = _created_cache[value] = to_epoch_seconds(value)
    return ts


def _is_ip(text: str) -> bool:
    """IPv4 or IPv6 address? inet_pton is ~15x faster than the ipaddress module."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        socket.inet_pton(family, text)
    except (OSError, ValueError):
        return False
    return True


def parse_event(raw: bytes, now: float) -> Event | DeadLetter:
    """Validate `raw` against the contract; `now` (epoch s) bounds how far in the future it may be."""
    if len(raw) > MAX_EVENT_BYTES:
        return DeadLetter(Reason.TOO_LARGE, f"event is {len(raw)} bytes, limit {MAX_EVENT_BYTES}")
    result = _decode(raw)
    if isinstance(result, DeadLetter):
        return result
    return check_event(result, now)


def check_event(event: Event, now: float) -> Event | DeadLetter:
    """The checks a type cannot express: timestamp format, not in the future, IP address."""
    try:
        event.ts = to_epoch_seconds(event.timestamp)
        event.created_ts = (
            _created_ts(event.account_created_at) if event.account_created_at is not None
            else None
        )
    except TimestampError as err:
        return DeadLetter(Reason.BAD_TIMESTAMP, str(err))
    except (ValueError, OverflowError) as err:  # e.g. year 0 or 10000 once the offset applies
        return DeadLetter(Reason.BAD_TIMESTAMP, f"timestamp out of range: {err}")
    if event.ts < 0 or (event.created_ts is not None and event.created_ts < 0):
        return DeadLetter(Reason.BAD_TIMESTAMP, "timestamp before 1970-01-01T00:00:00Z")
    if event.ts > now + MAX_FUTURE_SECONDS:
        return DeadLetter(
            Reason.FUTURE_TIMESTAMP,
            f"timestamp {event.timestamp} is {(event.ts - now) / 3600:.1f} h in the future",
        )
    if event.source_ip is not None and not _is_ip(event.source_ip):
        return DeadLetter(Reason.WRONG_TYPE, "source_ip is not an IP address - at `$.source_ip`")
    if event.prompt is not None and event.prompt.signals is not None:
        event.prompt.signals = None  # ours to derive from the text, never a producer's claim
    return event
