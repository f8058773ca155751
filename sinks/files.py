"""File outputs of the offline path: the dead-letter JSONL beside an input, and the scores CSV."""

from __future__ import annotations

import base64
import csv
import os
from pathlib import Path
from typing import IO

import msgspec
from distillguard.models.profile import AccountProfile
from distillguard.models.timestamps import to_rfc3339
from distillguard.sinks.base import BatchingSink

_json = msgspec.json.Encoder()


def dead_letter_json(original: bytes, reason: str, error: str, source: dict) -> bytes:
    """One dead-letter line. The original bytes are kept verbatim: as text when they are UTF-8,
    else base64 (`original_base64`)."""
    record: dict = {"reason": reason, "error": error, "source": source}
    try:
        record["original"] = original.decode("utf-8")
    except UnicodeDecodeError:
        record["original_base64"] = base64.b64encode(original).decode()
    return _json.encode(record)


def unwritable(path: Path) -> str | None:
    """Why `path` cannot be written as an output file, or None if it can: checked before any
    input is read, so a typo in a folder name costs nothing."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    if not folder.exists():
        return f"folder {folder} does not exist (for {path}); create it first"
    if not folder.is_dir():
        return f"{folder} is not a folder (for {path})"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable (for {path})"
    return None


class DeadLetterFile(BatchingSink):
    def __init__(self, path: Path, batch_size: int = 100) -> None:
        super().__init__(batch_size)
        self.path = path
        self.count = 0
        self._fh: IO[bytes] | None = None

    def write(self, batch) -> None:
        if self._fh is None:
            self._fh = self.path.open("wb")
        for rec in batch:
            self._fh.write(dead_letter_json(rec.original, rec.reason, rec.error, rec.source) + b"\n")
        self.count += len(batch)

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()


CSV_REASONS = 3  # the strongest few: "a short ;-separated list"
SCORES_HEADER = ["account_id", "risk", "first_alert_at", "reasons"]


def write_scores_csv(path: Path, profiles: list[AccountProfile]) -> None:
    """One row per account, riskiest first: account_id,risk,first_alert_at,reasons. Written
    to a temporary file beside `path` and moved into place, so a failed run leaves no half file."""
    regular = not path.exists() or path.is_file()  # not /dev/stdout, a pipe, ...
    partial = path.with_name(f".{path.name}.partial") if regular else path
    with partial.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(SCORES_HEADER)
        for p in sorted(profiles, key=lambda p: (-p.risk, p.account_id)):
            first = to_rfc3339(p.first_alert_ts) if p.first_alert_ts is not None else ""
            reasons = ";".join(r.replace(";", ",") for r in p.reasons[:CSV_REASONS])
            out.writerow([p.account_id, f"{p.risk:.1f}", first, reasons])
    if regular:
        os.replace(partial, path)
