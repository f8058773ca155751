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
    WRONG_FORMAT = "wrong_format"         # does not fit the input's declared format
    MISSING_ACCOUNT = "missing_account"   # a span with none of the configured account attributes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: Reason
    error: str


_typed_decoder = msgspec.json.Decoder(Event)
_RANGE_WORDS = re.compile(r"(>=|<=|>|<|length|match pattern)")


def _classify(err: msgspec.ValidationError) -> Reason:
    text = str(err)
    if text.startswith("Object missing required field"):
        return Reason.MISSING_FIELD
    if text.startswith("Expected `object`") and "- at `$" not in text:
        return Reason.NOT_AN_OBJECT
    if _RANGE_WORDS.search(text.split(" - at ")[0]):
        return Reason.OUT_OF_RANGE
    return Reason.WRONG_TYPE


def _decode(raw: bytes) -> Event | DeadLetter:
    try:
        return _typed_decoder.decode(raw)
    except msgspec.ValidationError as err:
        return DeadLetter(_classify(err), str(err))
    except msgspec.DecodeError as err:
        return DeadLetter(Reason.INVALID_JSON, f"invalid JSON: {err}")


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
    if event.ts > now + MAX_FUTURE_SECONDS:
        return DeadLetter(
            Reason.FUTURE_TIMESTAMP,
            f"timestamp {event.timestamp} is {(event.ts - now) / 3600:.1f} h in the future",
        )
    if event.source_ip is not None and not _is_ip(event.source_ip):
        return DeadLetter(Reason.WRONG_TYPE, "source_ip is not an IP address - at `$.source_ip`")
    return event
