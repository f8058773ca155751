"""Thresholds from the population: streaming quantiles of per-request numbers, per segment.

"A long answer" or "a short prompt" is not a constant: it is where this deployment's traffic
sits, per segment (endpoint, model family, client family). Each quantity is a log-binned
histogram (quarter-octave bins, ~19% wide; bounded whatever the traffic) from which quantiles
are read. Learning is capped per account (an account's n-th event is learned with probability
~ CAP / n, by hashing its event id), so one high-volume account, honest or not, cannot move the
population's cut-offs; events of accounts already scored risky are not learned at all, and an
account is learned from only after HISTORY events, when it has been scored on enough of its own
behaviour (a harvester is usually risky by then, so it does not teach the population that long
answers are ordinary while its first requests are still unjudged).

Warm-up: a segment answers from its own histogram once it has learned WARMUP events from at least
MIN_ACCOUNTS accounts (a segment of a few accounts is theirs, not a population: an attacker on
an unusual client would otherwise set its own cut-offs), before that from the all-segments
histogram, and before that (WARMUP events) from a conservative prior (cut-offs that flag
little). `snapshot()`/`restore()` give msgspec-encodable state for the streaming helper.
"""

from __future__ import annotations

import functools
import math

import msgspec

BINS = 88                 # quarter-octaves from 1 to 2**22
WARMUP = 300              # learned events before a histogram answers
MIN_ACCOUNTS = 20         # accounts (counted at their first learned event) before a segment does
CAP = 40                  # events per account learned at full rate, then ~CAP/n
HISTORY = 50              # an account's events are learned from its HISTORY+1-th on
MAX_SEGMENTS = 64
REFRESH = 200             # re-read cached cut-offs after this many learned events
# quantity: (quantile, prior): which quantile of the benign population marks "unusual"
# Central quantiles, not far tails: they stay put while a large share of the learned traffic
# is hostile (a 99th percentile moves as soon as harvesters are a few percent of it).
QUANTITIES = {"long_output": (0.75, 800.0),   # visible answer tokens of answers (>16 tokens)
              "short_input": (0.5, 150.0),    # prompt tokens, median (reported, not a gate)
              "many_tools": (0.9, 12.0),      # tools offered on requests that offer any
              "long_reasoning": (0.5, 4000.0)}  # hidden reasoning tokens, median where present


class Norms(msgspec.Struct, array_like=True, frozen=True):
    """Cut-offs for one segment, read by `profile.update` for each event."""

    long_output: float
    short_input: float
    many_tools: float
    long_reasoning: float


PRIOR = Norms(*(prior for _, prior in QUANTITIES.values()))


def _bin(x: float) -> int:
    return min(BINS - 1, max(0, int(4 * math.log2(max(x, 1.0)))))


def _quantile(hist: list[float], q: float) -> float:
    total = sum(hist)
    target, acc = q * total, 0.0
    for i, c in enumerate(hist):
        acc += c
        if acc >= target:
            return 2 ** ((i + 1) / 4)  # upper edge of the bin: conservative
    return 2 ** (BINS / 4)


FIRST = 2  # admitted(): the account's first learned event


def admitted(account_events: int, event_hash: int) -> int:
    """Whether an account's request is learned: not its first HISTORY ones; then the n-th
    (n > CAP) with probability ~CAP / n, decided by a hash of the event id (so a replay decides
    the same). 0: not learned, 1: learned, FIRST: learned, the account's first."""
    if account_events <= HISTORY:
        return 0
    n = account_events - HISTORY
    if n > CAP and event_hash % n >= CAP:
        return 0
    return FIRST if n == 1 else 1


def bins_of(values: tuple[float | None, ...]) -> dict[int, float]:
    """{quantity * BINS + bin: 1.0} for the values present."""
    return {q * BINS + _bin(v): 1.0 for q, v in enumerate(values) if v is not None}


@functools.lru_cache(maxsize=4096)  # once per request, over a few distinct clients and models
def segment_of(endpoint: str | None, model: str | None, user_agent: str | None) -> str:
    """endpoint | model family (name without version digits) | client family (before '/')."""
    family = (model or "").rstrip("0123456789.-_") or "?"
    client = (user_agent or "").split("/", 1)[0].split(" ", 1)[0][:32] or "?"
    return f"{endpoint or '?'}|{family}|{client}"


class Snapshot(msgspec.Struct):
    hists: dict[str, list[list[float]]]
    learned: dict[str, int]
    accounts: dict[str, int] = {}


class PopulationNorms:
    """Per-segment histograms of each quantity in QUANTITIES."""

    def __init__(self) -> None:
        self.hists: dict[str, list[list[float]]] = {}
        self.learned: dict[str, int] = {}
        self.accounts: dict[str, int] = {}  # accounts whose first learned event was here
        self._cache: dict[str, tuple[int, Norms]] = {}

    def _hists(self, segment: str) -> list[list[float]] | None:
        h = self.hists.get(segment)
        if h is None and len(self.hists) < MAX_SEGMENTS:
            h = self.hists[segment] = [[0.0] * BINS for _ in QUANTITIES]
            self.learned[segment] = 0
            self.accounts[segment] = 0
        return h

    def learn(self, segment: str, values: tuple[float | None, ...], account_events: int,
              event_hash: int) -> None:
        """Fold one benign-looking request in. `values` follow QUANTITIES (None: not present)."""
        admission = admitted(account_events, event_hash)
        if admission:
            self.add(segment, 1, bins_of(values), int(admission == FIRST))

    def add(self, segment: str, learned: int, bins: dict[int, float], accounts: int = 0) -> None:
        """`learned` events (of which `accounts` were an account's first learned one) whose
        values fell in `bins` ({quantity * BINS + bin: count}): one request, or a batch of
        them summed by a worker (models/learned.py)."""
        for seg in (segment, "*"):
            hists = self._hists(seg)
            if hists is None:
                continue
            for slot, count in bins.items():
                hists[slot // BINS][slot % BINS] += count
            self.learned[seg] += learned
            self.accounts[seg] += accounts

    def norms(self, segment: str) -> Norms:
        own = (self.learned.get(segment, 0) >= WARMUP
               and self.accounts.get(segment, 0) >= MIN_ACCOUNTS)
        seg = segment if own else "*"
        n = self.learned.get(seg, 0)
        if n < WARMUP:
            return PRIOR
        cached = self._cache.get(seg)
        if cached is not None and n - cached[0] < REFRESH:
            return cached[1]
        values = []
        for hist, (q, prior) in zip(self.hists[seg], QUANTITIES.values(), strict=True):
            if sum(hist) < WARMUP / 4:
                values.append(prior)  # a quantity this segment rarely carries
            else:
                values.append(_quantile(hist, q))
        result = Norms(*values)
        self._cache[seg] = (n, result)
        return result

    def snapshot(self) -> Snapshot:
        return Snapshot({k: [list(h) for h in v] for k, v in self.hists.items()},
                        dict(self.learned), dict(self.accounts))

    def restore(self, snap: Snapshot) -> None:
        self.hists = {k: [list(h) for h in v] for k, v in snap.hists.items()}
        self.learned = dict(snap.learned)
        self.accounts = {k: snap.accounts.get(k, 0) for k in self.learned}
        self._cache.clear()
