"""Where `distillguard score` reads events from: a file, `-` (standard input), a pipe or
/dev/stdin, plain or compressed (gzip, zstd; recognised by their first bytes, not the name).

Lines come out without their line ending and never longer than a bound: a file without
newlines (a binary blob, a one-line dump) cannot make the reader hold all of it in memory.
"""

from __future__ import annotations

import gzip
import io
import stat
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from distillguard.stream.intake.guard import compression_of

STDIN = "-"
CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"


class InputError(Exception):
    """The input cannot be opened or read; the message says which and why."""


@dataclass(frozen=True)
class InputInfo:
    name: str                 # what dead letters cite as their file
    compression: str | None   # "gzip", "zstd" or None
    regular_file: bool        # a plain file on disk can be counted up front for progress


# One line: (number, bytes, full length) - a tuple, as a class per line costs ~2% of `score`.
Line = tuple[int, bytes, int]


def is_stdin(name: str | Path) -> bool:
    return str(name) == STDIN


@contextmanager
def open_input(name: str | Path) -> Iterator[tuple[IO[bytes], InputInfo]]:
    """A binary stream of the decompressed input, and what it is."""
    try:
        if is_stdin(name):
            binary: IO[bytes] = sys.stdin.buffer
            label, regular = "<stdin>", False
        else:
            path = Path(name)
            binary = path.open("rb")
            label, regular = str(path), stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a folder, not a file of events") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    try:
        buffered = binary if isinstance(binary, io.BufferedReader) else io.BufferedReader(binary)
        compression = compression_of(buffered.peek(4)[:4])
        if compression not in (None, "gzip", "zstd"):
            raise InputError(f"{label} is {compression}-compressed: decompress it first "
                             "(gzip and zstd are read directly)")
        stream: IO[bytes] = buffered
        if compression == "gzip":
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")
        elif compression == "zstd":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(buffered, read_size=CHUNK)
        yield stream, InputInfo(label, compression, regular and compression is None)
    finally:
        if not is_stdin(name):
            binary.close()


def _read(stream: IO[bytes], info: InputInfo) -> Iterator[bytes]:
    """Chunks of `stream`; damaged compressed data becomes an InputError naming the input."""
    import zstandard

    while True:
        try:
            chunk = stream.read(CHUNK)
        except (EOFError, zlib.error, zstandard.ZstdError, OSError) as err:
            raise InputError(f"{info.name}: cannot read {info.compression or ''} data: "
                             f"{err}".replace("  ", " ")) from None
        if not chunk:
            return
        yield chunk


def read_lines(stream: IO[bytes], info: InputInfo, max_bytes: int) -> Iterator[Line]:
    """Numbered lines without their ending (\\n or \\r\\n). A line longer than `max_bytes` is
    cut to `max_bytes + 1` bytes (so it is still recognisably too large) and the rest skipped;
    `length` keeps its full size. A UTF-8 byte-order mark at the start is dropped."""
    number = 0
    pending: list[bytes] = []     # pieces of the current, unfinished line
    pending_len = 0
    first = True
    for chunk in _read(stream, info):
        if first:
            chunk, first = chunk.removeprefix(BOM), False
        parts = chunk.split(b"\n")
        tail = parts.pop()          # after the last newline: the start of the next line
        for part in parts:
            number += 1
            if pending:
                length = pending_len + len(part)
                part = b"".join(pending) + part[:max(0, max_bytes + 1 - pending_len)]
                pending, pending_len = [], 0
            else:
                length = len(part)
            if part.endswith(b"\r"):
                part, length = part[:-1], length - 1
            yield number, part[:max_bytes + 1], length
        if tail:
            if pending_len <= max_bytes:
                pending.append(tail[:max_bytes + 1 - pending_len])
            pending_len += len(tail)
    if pending_len:  # a last line without a newline
        raw, length = b"".join(pending), pending_len
        if raw.endswith(b"\r") and len(raw) == length:
            raw, length = raw[:-1], length - 1
        yield number + 1, raw, length
