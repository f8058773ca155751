"""Offline replay: a JSONL file through the same pipeline and engine as the Kafka worker."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.profile import AccountProfile
from distillguard.models.topology import LocalTopology
from distillguard.sinks.base import BatchingSink
from distillguard.sinks.files import DeadLetterFile
from distillguard.sinks.metrics import Metrics
from distillguard.stream.collector import fewer_collections
from distillguard.stream.inputs import is_stdin, open_input, read_lines
from distillguard.stream.intake import Format, Reason
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES
from distillguard.stream.intake.parse import MAX_EVENT_BYTES
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.progress import Progress


@dataclass
class ReplayResult:
    profiles: dict[str, AccountProfile]
    metrics: Metrics
    dead_letter_path: Path | None
    seconds: float
    lines: int = 0    # lines read, blank ones included
    events: int = 0   # non-blank lines: scored + dead-lettered + duplicates


def dead_letter_path_for(input_path: str | Path, fallback_dir: Path) -> Path:
    """`events.jsonl[.gz|.zst]` -> `events.dlq.jsonl` beside it, or in `fallback_dir` if that is
    read-only or the input is no regular file; standard input -> `stdin.dlq.jsonl` there."""
    if is_stdin(input_path):
        return fallback_dir / "stdin.dlq.jsonl"
    input_path = Path(input_path)
    stem = input_path.name
    for suffix in (".gz", ".zst", ".jsonl", ".json", ".ndjson"):
        stem = stem.removesuffix(suffix)
    name = stem + ".dlq.jsonl"
    if input_path.is_file() and os.access(input_path.parent, os.W_OK):
        return input_path.parent / name
    return fallback_dir / name  # read-only folder, or /dev/stdin, a FIFO: not beside those


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def is_binary_message(fmt: Format, fh) -> bool:
    """otlp-proto, or `auto` on a file that does not start like JSON."""
    if fmt is Format.OTLP_PROTO:
        return True
    if fmt is not Format.AUTO:
        return False
    head = fh.peek(64)[:64].lstrip() if hasattr(fh, "peek") else b"{"
    return bool(head) and head[:1] not in (b"{", b"[")


@fewer_collections()
def replay_file(path: str | Path, outputs: BatchingSink, dead_letter_path: Path,
                config: EngineConfig | None = None, progress: bool = True,
                fmt: Format = Format.CONTRACT,
                account_attributes: tuple[str, ...] = DEFAULT_ACCOUNT_ATTRIBUTES) -> ReplayResult:
    """Score every line of `path` (a file, or `-` for standard input; gzip/zstd are read as
    such) in the declared format `fmt`; an otlp-proto file is one message. Raises
    `stream.inputs.InputError` if the input cannot be opened or read."""
    profiles: dict[str, AccountProfile] = {}
    metrics = Metrics()
    dead_letters = DeadLetterFile(dead_letter_path)
    engine = Engine(profiles, config)
    pipeline = Pipeline(engine, metrics, dead_letters, outputs,
                        restore_profiles=False,  # see Pipeline: ~7% faster
                        fmt=fmt, account_attributes=account_attributes,
                        topology=LocalTopology(engine))
    lines = events = 0
    try:
        with open_input(path) as (stream, info):
            total = count_lines(Path(path)) if progress and info.regular_file else None
            meter = Progress(f"scoring {Path(info.name).name}", total=total, enabled=progress)
            name = info.name
            handle, advance, limit = pipeline.handle, meter.advance, MAX_EVENT_BYTES
            if is_binary_message(fmt, stream):  # protobuf has no lines: the input is one message
                advance()
                raw = stream.read(limit + 1)
                lines = events = 1
                if len(raw) > limit:
                    metrics.consumed.inc()
                    pipeline.reject(raw[:4096], (name, 1), Reason.TOO_LARGE,
                                    f"message is over {limit} bytes; the dead letter keeps its "
                                    "first 4096")
                else:
                    handle(raw, (name, 1))
            else:
                for line_no, raw, length in read_lines(stream, info, limit):
                    lines = line_no
                    advance()
                    if not raw or raw.isspace():
                        continue  # blank lines are layout, not events
                    events += 1
                    if length > limit:  # cut by the reader: only its first bytes are kept
                        metrics.consumed.inc()
                        pipeline.reject(raw, (name, line_no), Reason.TOO_LARGE,
                                        f"line is {length} bytes, limit {limit}; the dead letter "
                                        f"keeps its first {len(raw)}")
                        continue
                    handle(raw, (name, line_no))
    finally:  # what was dead-lettered before a read error is kept
        dead_letters.close()
    pipeline.finish(list(profiles))
    outputs.flush()
    metrics.accounts.set(len(profiles))
    return ReplayResult(profiles, metrics, dead_letter_path if dead_letters.count else None,
                        meter.finish(), lines, events)
