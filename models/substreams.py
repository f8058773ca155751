"""Sub-streams inside one account (CrowdSec's `groupby`): per API key (with the client's
settings: a script on the product's key is another program), per system prompt, per hour-of-day
block and per end user, so a harvesting key, a night job or the requests that carry no end user
inside an honest product's traffic stand out even when they are a small share of the account.

Bounded: each dimension keeps the `SLOTS` heaviest sub-streams with the space-saving algorithm
(Metwally et al.): a new sub-stream evicts the lightest slot and inherits its count as `base`
(the over-estimate), so shares are computed over `count - base`, the events certainly its own.
A row is five small integers (rows written before had three more, ignored): with four
dimensions and four slots, at most ~180 bytes of msgpack, ~70 for a typical account.
"""

from __future__ import annotations

import hashlib

import msgspec

SLOTS = 4
# Row layout: [key hash, count, base, harvest-like requests (extraction-shaped, open-text probe,
# grading prompt or reasoning ask), requests harvest-like only by their reasoning ask]
KEY, COUNT, BASE, EXTRACTIVE, REASONING = range(5)
FLAG_COLUMNS = (EXTRACTIVE,)
FLAG_NAMES = ("harvest-like",)
DIMENSIONS = ("api key or client setting", "system prompt", "hour block", "end user")
NO_VALUE = ("the requests without an API key", "the requests without a system prompt", "",
            "the requests without an end user")
KEYED, SYSTEM, HOURS, USER = range(4)
HOUR_BLOCK = 3  # hours per "job" block: a night job runs in one or two of the eight blocks
# An hour block is a recurring job only once the account has been seen across most of a day;
# before that it is just an earlier or later stretch of time (a fresh replay's cut-offs settle
# meanwhile, so later stretches look different from earlier ones for everybody).
HOURS_MIN_SPAN_S = 20 * 3600.0


def key_hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=4).digest(), "little")


class SubStreams(msgspec.Struct, array_like=True):
    """Top sub-streams per dimension; `rows[d]` is a list of at most SLOTS rows. Key 0 is "no
    value" (no API key, no system prompt, no end user): a sub-stream of its own."""

    rows: list[list[list[int]]] = msgspec.field(default_factory=lambda: [[], [], [], []])

    def __post_init__(self) -> None:  # profiles written before the end-user dimension
        while len(self.rows) < len(DIMENSIONS):
            self.rows.append([])

    def _row(self, dim: int, key: int) -> list[int]:
        rows = self.rows[dim]
        for row in rows:
            if row[KEY] == key:
                return row
        if len(rows) < SLOTS:
            row = [key, 0, 0, 0, 0]
            rows.append(row)
        else:  # space-saving: replace the lightest, inherit its count as the error. The row of
            # "no value" (key 0) is never replaced: requests without an end user among
            # thousands of users are one sub-stream, however small its share
            row = min((r for r in rows if r[KEY]), key=lambda r: r[COUNT])
            row[:] = [key, row[COUNT], row[COUNT], 0, 0]
        return row

    def count_all(self, keys: tuple[int, ...]) -> None:
        """One request without any flag (most requests), in every dimension: `keys[dim]` is its
        key there. Most requests fall in the first row (an account's usual key), tried first."""
        all_rows = self.rows
        for dim, key in enumerate(keys):
            rows = all_rows[dim]
            if rows and rows[0][KEY] == key:
                rows[0][COUNT] += 1
            else:
                self._row(dim, key)[COUNT] += 1

    def add_all(self, keys: tuple[int, ...], reasoning_only: bool) -> None:
        """One harvest-like request in every dimension; `reasoning_only`: harvest-like only by
        its reasoning ask."""
        for dim, key in enumerate(keys):
            row = self._row(dim, key)
            row[COUNT] += 1
            row[EXTRACTIVE] += 1
            row[REASONING] += reasoning_only

    def top(self, dim: int, k: int = 2) -> list[int]:
        """Keys of the k heaviest sub-streams of a dimension that have a value. Key 0 names
        nothing the account shares with others, so it is never returned (it would link every
        account without a system prompt)."""
        return [r[KEY] for r in sorted(self.rows[dim], key=lambda r: -r[COUNT]) if r[KEY]][:k]


def own(row: list[int]) -> int:
    """Events certainly in this sub-stream (space-saving lower bound)."""
    return row[COUNT] - row[BASE]


def most_extractive(subs: SubStreams, min_events: int, total_events: int = 0,
                    total_flagged: int = 0, span_s: float = float("inf"),
                    beyond_asks: bool = False) -> tuple[str, str, float, int, float, int, float]:
    """The sub-stream whose harvest-like share is highest among those with at least
    `min_events` of their own: (where, behaviour, share, events, harvest-like share of the
    rest of the account, events of the rest, share of its harvest-like requests that are
    only reasoning asks), the rest computed from `total_events` and `total_flagged` (the account's
    count of harvest-like requests) when given; ("", "", 0, 0, 0, 0, 0) if none. Hour blocks
    count only when the account spans `span_s` >= HOURS_MIN_SPAN_S. `beyond_asks`: count only
    the requests harvest-like by more than a reasoning ask (then `total_flagged` is the account's
    count of those): where asking for steps is the product itself (a tutoring app), every
    request is harvest-like by its ask, and only this tells a harvest beside it from the rest."""
    best = ("", "", 0.0, 0, 0.0, 0, 0.0)
    for d, rows in enumerate(subs.rows):
        if len(rows) < 2 and d != HOURS:
            continue  # one key or one system prompt is the whole account, not a sub-stream
        if d == HOURS and span_s < HOURS_MIN_SPAN_S:
            continue
        for row in rows:
            n = own(row)
            if n < min_events:
                continue
            for column, name in zip(FLAG_COLUMNS, FLAG_NAMES, strict=True):
                flagged = row[column] - row[REASONING] if beyond_asks else row[column]
                share = min(1.0, flagged / n)
                if share > best[2]:
                    rest_n = total_events - row[COUNT]
                    rest = max(0, total_flagged - flagged) / rest_n if rest_n > 0 else 0.0
                    reasoning = 0.0 if beyond_asks else row[REASONING] / max(row[column], 1)
                    where = NO_VALUE[d] if row[KEY] == 0 and NO_VALUE[d] else f"one {DIMENSIONS[d]}"
                    best = (where, name, share, n, min(1.0, rest), max(0, rest_n),
                            min(1.0, reasoning))
    return best
