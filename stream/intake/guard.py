"""What exactly is wrong with bytes that did not decode: the reason and a message that says it.

Kept apart from parse.py's fast path: nothing here runs for a valid contract event.
"""

from __future__ import annotations

import re

import msgspec

_AT_BYTE = re.compile(r"\(byte (\d+)\)")

# Magic numbers of compressed data: a producer (or a user) sent a compressed file or message.
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2",
               b"\xfd7zXZ": "xz"}


def compression_of(raw: bytes) -> str | None:
    """The compression format `raw` starts with, if any."""
    for magic, name in _COMPRESSED.items():
        if raw.startswith(magic):
            return name
    return None


def classify_decode_error(raw: bytes, err: msgspec.DecodeError) -> tuple[str, str]:
    """(reason value, message) for JSON that msgspec could not decode."""
    text = str(err)
    if not raw.strip():
        return "empty", "no event: the message or line is empty"
    compressed = compression_of(raw)
    if compressed is not None:
        return "compressed", (f"{compressed}-compressed data, not JSON: decompress it first "
                              "(`distillguard score` reads .gz and .zst files itself)")
    at = _AT_BYTE.search(text)
    if "trailing characters" in text:
        return "trailing_data", (f"more after the first JSON value ({text}): one event per "
                                 "line or message")
    if "truncated" in text or (at is not None and int(at.group(1)) >= len(raw.rstrip())):
        return "truncated", f"JSON ends early (cut off after {len(raw)} bytes?): {text}"
    if "out of range" in text:  # a number beyond what any type holds, e.g. 1e999
        return "out_of_range", f"number out of range: {text}"
    if "UTF-8" in text:
        return "invalid_utf8", f"not UTF-8 text: {text}"
    return "invalid_json", f"invalid JSON: {text}"


TOO_DEEP_MESSAGE = "JSON nested too deeply to decode (thousands of levels)"
