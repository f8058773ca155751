"""Contract timestamps: RFC 3339 with an explicit offset, or integer epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime


class TimestampError(ValueError):
    """The value is not a contract timestamp."""


def to_epoch_seconds(value: str | int) -> float:
    """Epoch seconds of a contract timestamp; raises TimestampError with a readable message."""
    if isinstance(value, int):
        if not 0 <= value < 10**14:
            raise TimestampError(f"epoch milliseconds out of range: {value}")
        return value / 1000.0
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt ":
        raise TimestampError(f"not an RFC 3339 timestamp: {value[:40]!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"not an RFC 3339 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise TimestampError(f"timestamp has no UTC offset: {value[:40]!r}")
    return parsed.timestamp()


def to_rfc3339(epoch_seconds: float) -> str:
    """Millisecond-precision UTC RFC 3339 string, the form we write everywhere."""
    dt = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
