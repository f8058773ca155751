"""Offline replay: a JSONL file through the same pipeline and engine as the Kafka worker."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.profile import AccountProfile
from distillguard.sinks.base import BatchingSink
from distillguard.sinks.files import DeadLetterFile
from distillguard.sinks.metrics import Metrics
from distillguard.stream.intake import Format
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.progress import Progress


@dataclass
class ReplayResult:
    profiles: dict[str, AccountProfile]
    metrics: Metrics
    dead_letter_path: Path | None
    seconds: float


def dead_letter_path_for(input_path: Path, fallback_dir: Path) -> Path:
    """`events.jsonl` -> `events.dlq.jsonl` beside it, or in `fallback_dir` if that is read-only."""
    name = input_path.name.removesuffix(".jsonl") + ".dlq.jsonl"
    beside = input_path.parent / name
    if os.access(input_path.parent, os.W_OK):
        return beside
    return fallback_dir / name


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


def replay_file(path: Path, outputs: BatchingSink, dead_letter_path: Path,
                config: EngineConfig | None = None, progress: bool = True,
                fmt: Format = Format.CONTRACT,
                account_attributes: tuple[str, ...] = DEFAULT_ACCOUNT_ATTRIBUTES) -> ReplayResult:
    profiles: dict[str, AccountProfile] = {}
    metrics = Metrics()
    dead_letters = DeadLetterFile(dead_letter_path)
    pipeline = Pipeline(Engine(profiles, config), metrics, dead_letters, outputs, fmt=fmt,
                        account_attributes=account_attributes)
    meter = Progress(f"scoring {path.name}", total=count_lines(path) if progress else None,
                     enabled=progress)
    name = str(path)
    handle, advance = pipeline.handle, meter.advance
    with path.open("rb") as fh:
        if is_binary_message(fmt, fh):  # protobuf has no lines: the file is one message
            advance()
            handle(fh.read(), (name, 1))
            fh.seek(0, os.SEEK_END)
        for line_no, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            advance()
            if not raw or raw.isspace():
                continue  # blank lines are layout, not events
            handle(raw, (name, line_no))
    for outcome in pipeline.engine.flush(list(profiles)):
        pipeline.record(outcome)
    outputs.flush()
    dead_letters.close()
    metrics.accounts.set(len(profiles))
    return ReplayResult(profiles, metrics, dead_letter_path if dead_letters.count else None,
                        meter.finish())
