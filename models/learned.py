"""What the engine learns from the whole population, shared by every worker.

Four things are learned across accounts: the population's cut-offs per segment
(`thresholds.PopulationNorms`), the river peer model (`detectors.peer_anomaly.PeerAnomaly`),
when each model was first requested (release chasing) and the analysts' verdicts per reason
(`feedback.FeedbackState`). The engine reads them through a `Learned` and reports what it
learned through a `Learner`, which is either

- the same `Learned` (one process: `score`, `demo`, `eval` learn at once), or
- a `LearnDelta` that the Kafka worker sends once per batch to the single-partition learn topic,
  where one learner folds every worker's deltas in order (`Learned.apply`) and publishes the
  result as a snapshot that every worker reads (stream/learned_table.py).

So every worker scores against the same learned state, and it survives restarts. Deltas carry
derived numbers only (histogram bins, feature vectors, model names, label codes): no text.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import msgspec
from distillguard.models.detectors.peer_anomaly import PeerAnomaly, PeerSnapshot
from distillguard.models.feedback import FeedbackState
from distillguard.models.thresholds import PopulationNorms, Snapshot, admitted, bins_of

CODEC_VERSION = 1


class Learner(Protocol):
    """Where the engine reports what it learned (a `Learned`, or a `LearnDelta`)."""

    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None: ...
    def learn_peer(self, x: dict[str, float]) -> None: ...
    def see_model(self, model: str, ts: float) -> None: ...
    def label(self, label_id: int, account_id: str, label: str, codes: list[str]) -> None: ...


class ReleaseTimes(msgspec.Struct):
    """When each model was first requested by anyone: traffic moving to a model first seen in
    the last `new_for_s` is release chasing. Models already present during the first
    `warmup_s` of the stream count as old (we did not see them launch). Bounded by
    `max_models`."""

    new_for_s: float = 7 * 86400
    warmup_s: float = 86400
    max_models: int = 10_000
    first_seen: dict[str, float] = {}
    stream_start: float | None = None

    def see(self, model: str, ts: float) -> None:
        if self.stream_start is None or ts < self.stream_start:
            self.stream_start = ts
        first = self.first_seen.get(model)
        if first is None:
            if len(self.first_seen) < self.max_models:
                self.first_seen[model] = ts
        elif ts < first:
            self.first_seen[model] = ts

    def is_new(self, model: str | None, ts: float) -> bool:
        """Read-only. A model not learned yet was first seen now, by this request."""
        if not model:
            return False
        start = self.stream_start if self.stream_start is not None else ts
        first = self.first_seen.get(model, ts)
        return first - start >= self.warmup_s and ts - first < self.new_for_s


class LearnDelta(msgspec.Struct, array_like=True):
    """What one batch of the per-account stage learned, summed (a `Learner`)."""

    norms: dict[str, list] = {}          # segment -> [learned events, {slot: count}]
    peers: list[list[float]] = []        # PeerAnomaly.vector of benign-looking accounts
    models: dict[str, float] = {}        # model -> earliest request time in the batch
    labels: list[tuple[int, str, str, list[str]]] = []

    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None:
        if not admitted(account_events, event_hash):
            return
        entry = self.norms.get(segment)
        if entry is None:
            entry = self.norms[segment] = [0, {}]
        entry[0] += 1
        bins = entry[1]
        for slot, count in bins_of(values).items():
            bins[slot] = bins.get(slot, 0.0) + count

    def learn_peer(self, x: dict[str, float]) -> None:
        self.peers.append(PeerAnomaly.vector(x))

    def see_model(self, model: str, ts: float) -> None:
        first = self.models.get(model)
        if first is None or ts < first:
            self.models[model] = ts

    def label(self, label_id: int, account_id: str, label: str, codes: list[str]) -> None:
        self.labels.append((label_id, account_id, label, list(codes)))

    def __bool__(self) -> bool:
        return bool(self.norms or self.peers or self.models or self.labels)


class LearnedSnapshot(msgspec.Struct, array_like=True):
    version: int
    applied: dict[int, int]   # learn-topic partition -> last offset folded in (stream only)
    norms: Snapshot
    peers: PeerSnapshot
    releases: ReleaseTimes
    feedback: FeedbackState


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(LearnedSnapshot).decode


class Learned:
    """The population-level state, readable by the engine, learnable in place (a `Learner`)."""

    def __init__(self, feedback_min_labels: int | None = None) -> None:
        self.norms = PopulationNorms()
        self.peers = PeerAnomaly()
        self.releases = ReleaseTimes()
        self.feedback = (FeedbackState() if feedback_min_labels is None
                         else FeedbackState(min_labels=feedback_min_labels))
        self.applied: dict[int, int] = {}

    # -- learning in place (one process) or from a worker's delta (the learner)
    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None:
        self.norms.learn(segment, values, account_events, event_hash)

    def learn_peer(self, x: dict[str, float]) -> None:
        self.peers.learn_one(x)

    def see_model(self, model: str, ts: float) -> None:
        self.releases.see(model, ts)

    def label(self, label_id: int, account_id: str, label: str, codes: list[str]) -> None:
        self.feedback.apply(label_id, account_id, label, codes)

    def apply(self, delta: LearnDelta) -> None:
        """Fold one worker's batch in (the learner calls this in the learn topic's order)."""
        for segment, (learned, bins) in delta.norms.items():
            self.norms.add(segment, learned, bins)
        for vector in delta.peers:
            self.peers.learn_vector(vector)
        for model, ts in delta.models.items():
            self.releases.see(model, ts)
        for label_id, account_id, label, codes in delta.labels:
            self.feedback.apply(label_id, account_id, label, codes)

    # -- durable form
    def encode(self) -> bytes:
        snap = LearnedSnapshot(CODEC_VERSION, dict(self.applied), self.norms.snapshot(),
                               self.peers.snapshot(), self.releases, self.feedback)
        return zlib.compress(_encode(snap), 6)

    @classmethod
    def decode(cls, raw: bytes) -> Learned:
        snap = _decode(zlib.decompress(raw))
        if snap.version != CODEC_VERSION:
            raise ValueError(f"learned-state codec version {snap.version}, expected "
                             f"{CODEC_VERSION}")
        learned = cls()
        learned.applied = dict(snap.applied)
        learned.norms.restore(snap.norms)
        learned.peers = PeerAnomaly.restore(snap.peers)
        learned.releases = snap.releases
        learned.feedback = snap.feedback
        return learned
