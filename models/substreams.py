"""Sub-streams inside one account (CrowdSec's `groupby`): per API key, per system prompt and per
hour-of-day block, so a harvesting key or a night job inside an honest product's traffic stands
out even when it is a small share of the account.

Bounded: each dimension keeps the `SLOTS` heaviest sub-streams with the space-saving algorithm
(Metwally et al.): a new sub-stream evicts the lightest slot and inherits its count as `base`
(the over-estimate), so shares are computed over `count - base`, the events certainly its own.
A row is eight small integers: with three dimensions and four slots, ~250 bytes of msgpack.
"""

from __future__ import annotations

import hashlib

import msgspec

SLOTS = 4
# Row layout: [key hash (32 bit), count, base, shaped, reasoning, probe, agentic, grading]
KEY, COUNT, BASE, SHAPED, REASONING, PROBE, AGENTIC, GRADING = range(8)
FLAG_COLUMNS = (SHAPED, REASONING, PROBE, AGENTIC, GRADING)
FLAG_NAMES = ("extraction-shaped", "reasoning-asking", "one-token logprob", "tool-episode",
              "grading")
DIMENSIONS = ("api key", "system prompt", "hour block")
HOUR_BLOCK = 3  # hours per "job" block: a night job runs in one or two of the eight blocks


def key_hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=4).digest(), "little")


class SubStreams(msgspec.Struct, array_like=True):
    """Top sub-streams per dimension; `rows[d]` is a list of at most SLOTS rows."""

    rows: list[list[list[int]]] = msgspec.field(default_factory=lambda: [[], [], []])

    def add(self, dim: int, key: int, flags: tuple[int, ...]) -> None:
        rows = self.rows[dim]
        for row in rows:
            if row[KEY] == key:
                break
        else:
            if len(rows) < SLOTS:
                row = [key, 0, 0, 0, 0, 0, 0, 0]
                rows.append(row)
            else:  # space-saving: replace the lightest, inherit its count as the error
                row = min(rows, key=lambda r: r[COUNT])
                row[:] = [key, row[COUNT], row[COUNT], 0, 0, 0, 0, 0]
        row[COUNT] += 1
        for column, flag in zip(FLAG_COLUMNS, flags, strict=True):
            row[column] += flag

    def top(self, dim: int, k: int = 2) -> list[int]:
        """Keys of the k heaviest sub-streams of a dimension that have a value. Key 0 is "no
        value" (no API key, no system prompt): it names nothing the account shares with others,
        so it is never returned (it would link every account without a system prompt)."""
        return [r[KEY] for r in sorted(self.rows[dim], key=lambda r: -r[COUNT]) if r[KEY]][:k]


def own(row: list[int]) -> int:
    """Events certainly in this sub-stream (space-saving lower bound)."""
    return row[COUNT] - row[BASE]


def most_extractive(subs: SubStreams, min_events: int) -> tuple[str, str, float, int]:
    """The sub-stream whose extraction-like share is highest among those with at least
    `min_events` of their own: (dimension, behaviour, share, events); ("", "", 0, 0) if none."""
    best = ("", "", 0.0, 0)
    for d, rows in enumerate(subs.rows):
        if len(rows) < 2 and d != 2:
            continue  # one key or one system prompt is the whole account, not a sub-stream
        for row in rows:
            n = own(row)
            if n < min_events:
                continue
            for column, name in zip(FLAG_COLUMNS, FLAG_NAMES, strict=True):
                share = min(1.0, row[column] / n)
                if share > best[2]:
                    best = (DIMENSIONS[d], name, share, n)
    return best
