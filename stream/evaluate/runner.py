"""One replay of labelled traffic through our engine and every baseline, side by side."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.outcomes import Alert
from distillguard.models.profile import AccountProfile
from distillguard.models.timestamps import to_epoch_seconds
from distillguard.models.topology import LocalTopology
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.collector import fewer_collections
from distillguard.stream.evaluate.baselines import all_baselines
from distillguard.stream.pipeline import Pipeline
from distillguard.stream.progress import Progress


@dataclass(frozen=True)
class Label:
    attack: bool
    scenario: str
    attack_start: float | None


@dataclass
class DetectorResult:
    name: str
    scores: dict[str, float]
    alerts: dict[str, tuple[float, int]]  # account -> (event ts, account's request count)
    alert_at: float | None = None         # score at which this detector alerts, if it has one


@dataclass
class RunResult:
    labels: dict[str, Label]
    detectors: list[DetectorResult]
    requests_before_attack: dict[str, int]
    risk_over_time: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    events: int = 0


def read_labels(path: Path) -> dict[str, Label]:
    with path.open() as fh:
        return {r["account_id"]: Label(r["label"] == "1", r["scenario"],
                                       to_epoch_seconds(r["attack_start"]) if r["attack_start"]
                                       else None)
                for r in csv.DictReader(fh)}


def _labelled(alert_id: str, share: float) -> bool:
    """Deterministic stand-in for "an analyst got to this alert": a share of all alerts."""
    return int(hashlib.sha256(alert_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


@fewer_collections()
def run(lines: Iterable[bytes], labels: dict[str, Label], total: int | None = None,
        config: EngineConfig | None = None, track: Iterable[str] = (),
        progress: bool = True, label_share: float = 0.0, baselines: bool = True) -> RunResult:
    """Replay `lines`; with `label_share` > 0, that share of our alerts is labelled by an
    analyst who knows the truth, and the label is fed back to the engine at once."""
    profiles: dict[str, AccountProfile] = {}
    outputs: ListSink = ListSink()
    engine = Engine(profiles, config)
    pipeline = Pipeline(engine, Metrics(), ListSink(), outputs, topology=LocalTopology(engine))
    others = all_baselines() if baselines else []
    ours_alerts: dict[str, tuple[float, int]] = {}
    count: dict[str, int] = defaultdict(int)
    before: dict[str, int] = defaultdict(int)
    tracked = set(track)
    trajectories: dict[str, list[tuple[float, float]]] = {a: [] for a in tracked}

    def take_outputs() -> None:
        """Alerts and tracked risk of every account the last step scored (a group verdict
        rescores other accounts too)."""
        for out in outputs.items:
            a = out.account_id
            if isinstance(out, Alert):
                ours_alerts.setdefault(a, (out.event_ts, count[a]))
                label = labels.get(a)
                if label_share and label and _labelled(out.alert_id, label_share):
                    engine.feedback(a, "true_positive" if label.attack else "false_positive",
                                    [r.code for r in out.reasons])
            elif a in tracked:
                trajectories[a].append((out.event_ts, out.risk))
        outputs.items.clear()

    meter = Progress("evaluating", total=total, enabled=progress)
    for i, raw in enumerate(lines):
        meter.advance()
        event = pipeline.parse(raw, {"line": i + 1})
        if event is None:
            continue
        outcome = pipeline.score(event)
        if outcome is None or outcome.duplicate:
            outputs.items.clear()
            continue
        a = event.account_id
        count[a] += 1
        label = labels.get(a)
        if label and label.attack_start is not None and event.ts < label.attack_start:
            before[a] += 1
        take_outputs()
        for b in others:
            b.update(event)
    pipeline.finish(list(profiles))
    take_outputs()
    meter.finish()
    accounts = list(profiles)
    detectors = [DetectorResult("distillguard", {a: profiles[a].risk for a in accounts},
                                ours_alerts, alert_at=80.0)]
    detectors += [DetectorResult(b.name, {a: b.score(a) for a in accounts},
                                 {a: b.alerted_at(a) for a in accounts if b.alerted_at(a)})
                  for b in others]
    return RunResult(labels, detectors, dict(before), trajectories, meter.done)
