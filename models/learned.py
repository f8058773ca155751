"""What the engine learns from the whole population, shared by every worker.

Six things are learned across accounts: the population's cut-offs per segment
(`thresholds.PopulationNorms`), the river models (`detectors.population.PopulationModels`:
HalfSpaceTrees peers and the LogisticRegression verdict model), when each model was first
requested (release chasing), the analysts' verdicts per reason (`feedback.FeedbackState`), the
alert calibration at a chosen false-positive rate (`calibration.AlertCalibrator`) and which
prompts more than one account sends (`items.PublicItems`: hashes only). The engine
reads them through a `Learned` and reports what it learned through a `Learner`, which is either

- the same `Learned` (one process: `score`, `demo`, `eval` learn at once), or
- a `LearnDelta` that the Kafka worker sends once per batch to the single-partition learn topic,
  where one learner folds every worker's deltas in order (`Learned.apply`) and publishes the
  result as a snapshot that every worker reads (stream/learned_table.py).

So every worker scores against the same learned state, and it survives restarts. Deltas carry
derived numbers only (histogram bins, feature vectors, model names, label codes, 64-bit prompt
hashes with 12-bit account tags): no text.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import msgspec
from distillguard.models.calibration import AlertCalibrator, CalibrationSnapshot, risk_bin
from distillguard.models.detectors.population import (
    PopulationModels,
    PopulationSnapshot,
    features_of,
    inputs_of,
)
from distillguard.models.feedback import FeedbackState
from distillguard.models.items import ItemsSnapshot, PublicItems
from distillguard.models.thresholds import FIRST, PopulationNorms, Snapshot, admitted, bins_of

CODEC_VERSION = 2


class Learner(Protocol):
    """Where the engine reports what it learned (a `Learned`, or a `LearnDelta`)."""

    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None: ...
    def learn_population(self, events: int, f: dict[str, float], rule_risk: float) -> None: ...
    def learn_risk(self, before: float | None, after: float) -> None: ...
    def see_model(self, model: str, ts: float) -> None: ...
    def see_item(self, item: int, tag: int) -> None: ...
    def label(self, label_id: int, account_id: str, label: str, codes: list[str], events: int,
              f: dict[str, float] | None, raw_risk: float) -> None: ...


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

    norms: dict[str, list] = {}          # segment -> [learned, {slot: count}, first learned]
    population: list[tuple[int, list[float], float]] = []  # (events, inputs_of(f), rule risk)
    risks: dict[int, int] = {}           # calibration: risk bin -> accounts in minus out
    models: dict[str, float] = {}        # model -> earliest request time in the batch
    labels: list[tuple[int, str, str, list[str], int, list[float], float]] = []
    items: list[tuple[int, int]] = []    # (64-bit prompt hash, account tag), in request order

    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None:
        admission = admitted(account_events, event_hash)
        if not admission:
            return
        entry = self.norms.get(segment)
        if entry is None:
            entry = self.norms[segment] = [0, {}, 0]
        entry[0] += 1
        entry[2] += admission == FIRST
        bins = entry[1]
        for slot, count in bins_of(values).items():
            bins[slot] = bins.get(slot, 0.0) + count

    def learn_population(self, events: int, f: dict[str, float], rule_risk: float) -> None:
        if PopulationModels.learns_from(events, rule_risk):
            self.population.append((events, inputs_of(f), rule_risk))

    def learn_risk(self, before: float | None, after: float) -> None:
        risks = self.risks
        if before is not None:
            b = risk_bin(before)
            risks[b] = risks.get(b, 0) - 1
        a = risk_bin(after)
        risks[a] = risks.get(a, 0) + 1

    def see_model(self, model: str, ts: float) -> None:
        first = self.models.get(model)
        if first is None or ts < first:
            self.models[model] = ts

    def see_item(self, item: int, tag: int) -> None:
        self.items.append((item, tag))

    def label(self, label_id: int, account_id: str, label: str, codes: list[str], events: int,
              f: dict[str, float] | None, raw_risk: float) -> None:
        self.labels.append((label_id, account_id, label, list(codes), events,
                            inputs_of(f) if f else [], raw_risk))

    def __bool__(self) -> bool:
        return bool(self.norms or self.population or self.risks or self.models or self.labels
                    or self.items)


class LearnedSnapshot(msgspec.Struct, array_like=True):
    version: int
    applied: dict[int, int]   # learn-topic partition -> last offset folded in (stream only)
    norms: Snapshot
    population: PopulationSnapshot
    releases: ReleaseTimes
    feedback: FeedbackState
    calibration: CalibrationSnapshot
    items: ItemsSnapshot | None = None  # snapshots written before the sketch: starts empty


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(LearnedSnapshot).decode


class Learned:
    """The population-level state, readable by the engine, learnable in place (a `Learner`).
    `peers` / `verdicts` off: the evaluation's ablation rows without a river model."""

    def __init__(self, feedback_min_labels: int | None = None, alert_fpr: float = 0.01,
                 peers: bool = True, verdicts: bool = True) -> None:
        self.norms = PopulationNorms()
        self.population = PopulationModels(peers=peers, verdicts=verdicts)
        self.releases = ReleaseTimes()
        self.feedback = (FeedbackState() if feedback_min_labels is None
                         else FeedbackState(min_labels=feedback_min_labels))
        self.calibrator = AlertCalibrator(alert_fpr)
        self.items = PublicItems()
        self.applied: dict[int, int] = {}

    # -- learning in place (one process) or from a worker's delta (the learner)
    def learn_norm(self, segment: str, values: tuple[float | None, ...], account_events: int,
                   event_hash: int) -> None:
        self.norms.learn(segment, values, account_events, event_hash)

    def learn_population(self, events: int, f: dict[str, float], rule_risk: float) -> None:
        self.population.learn(events, f, rule_risk)

    def learn_risk(self, before: float | None, after: float) -> None:
        self.calibrator.learn_one(before, after)

    def see_model(self, model: str, ts: float) -> None:
        self.releases.see(model, ts)

    def see_item(self, item: int, tag: int) -> None:
        self.items.add(item, tag)

    def label(self, label_id: int, account_id: str, label: str, codes: list[str], events: int,
              f: dict[str, float] | None, raw_risk: float) -> None:
        """An analyst's label: counted once per label id (FeedbackState), then taught to the
        river verdict model (if the account's features came with it) and the calibrator."""
        if not self.feedback.apply(label_id, account_id, label, codes):
            return
        if f:
            self.population.label(events, f, label == "true_positive")
        if raw_risk >= 0:
            self.calibrator.label(raw_risk, label == "false_positive")

    def apply(self, delta: LearnDelta) -> None:
        """Fold one worker's batch in (the learner calls this in the learn topic's order)."""
        for segment, (learned, bins, accounts) in delta.norms.items():
            self.norms.add(segment, learned, bins, accounts)
        for events, values, rule_risk in delta.population:
            self.population.learn(events, features_of(values), rule_risk)
        if delta.risks:
            self.calibrator.move(delta.risks)
        for model, ts in delta.models.items():
            self.releases.see(model, ts)
        for label_id, account_id, label, codes, events, values, raw_risk in delta.labels:
            self.label(label_id, account_id, label, codes, events,
                       features_of(values) if values else None, raw_risk)
        add = self.items.add
        for item, tag in delta.items:
            add(item, tag)

    # -- durable form
    def encode(self) -> bytes:
        snap = LearnedSnapshot(CODEC_VERSION, dict(self.applied), self.norms.snapshot(),
                               self.population.snapshot(), self.releases, self.feedback,
                               self.calibrator.snapshot(), self.items.snapshot())
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
        learned.population.restore(snap.population)
        learned.releases = snap.releases
        learned.feedback = snap.feedback
        learned.calibrator.restore(snap.calibration)
        if snap.items is not None:
            learned.items.restore(snap.items)
        return learned
