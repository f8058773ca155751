"""Opaque keyset cursors: base64url JSON of the last row's sort key, tagged with the listing it
belongs to. Anything that does not decode to exactly that shape is a 400, never a 500."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime

from fastapi import HTTPException

MAX_CURSOR = 512


def encode_cursor(kind: str, *key: float | str | datetime) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"k": kind, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, *types: type) -> list:
    """The key values, each converted to its type in `types` (float, str or datetime)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("k") != kind:
            raise ValueError("cursor of another listing")
        values = body.get("v")
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        return [_typed(v, t) for v, t in zip(values, types, strict=True)]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        raise HTTPException(400, "invalid cursor: pass back a next_cursor unchanged") from None


def _typed(value, kind: type):
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise ValueError("not a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str) or not 0 < len(value) <= 128 or "\x00" in value:
            raise ValueError("not an id")
        value.encode()  # a lone surrogate raises here (UnicodeEncodeError), not in the driver
        return value
    if kind is datetime:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
        if ts is None or ts.tzinfo is None:
            raise ValueError("not a timestamp")
        return ts
    raise TypeError(kind)
