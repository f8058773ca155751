"""One step, shared by the Kafka worker and the file replay: raw bytes -> validated event ->
engine -> outputs, with dead letters and metrics. There is no second pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from distillguard.models.engine import Engine
from distillguard.models.event import Event
from distillguard.models.outcomes import Alert, Outcome, RiskUpdate
from distillguard.sinks.base import Sink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.intake import DeadLetter, Reason, parse_event

# Where an event came from: topic/partition/offset (a dict), or (file, line) - a tuple, because
# building a dict per line costs more than validating some events.
Source = dict | tuple[str, int]
LATENCY_SAMPLE = 16  # timing every event costs more than a quarter of the cheap ones


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A rejected event: original bytes, why, and where it came from (topic/partition/offset
    or file/line)."""

    original: bytes
    reason: str
    error: str
    source: dict


class Pipeline:
    def __init__(self, engine: Engine, metrics: Metrics,
                 dead_letters: Sink[DeadLetterRecord], outputs: Sink[RiskUpdate | Alert],
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.metrics = metrics
        self.dead_letters = dead_letters
        self.outputs = outputs
        self.clock = clock
        self._handled = 0
        for reason in Reason:  # every label exists from the start, so rates begin at zero
            metrics.dead_lettered.labels(reason=reason.value)

    def parse(self, raw: bytes, source: Source) -> Event | None:
        """Validate; invalid events go to the dead letters and None is returned."""
        self.metrics.consumed.inc()
        result = parse_event(raw, now=self.clock())
        if isinstance(result, DeadLetter):
            self.metrics.dead_lettered.labels(reason=result.reason.value).inc()
            where = source if isinstance(source, dict) else {"file": source[0], "line": source[1]}
            self.dead_letters.add(DeadLetterRecord(raw, result.reason.value, result.error, where))
            return None
        return result

    def score(self, event: Event) -> Outcome:
        """Fold a valid event into its account's profile and emit what the engine decides."""
        outcome = self.engine.process(event)
        self.record(outcome)
        if not outcome.duplicate:
            self.metrics.scored.inc()
            self.metrics.last_event_ts.set(event.ts)
        return outcome

    def record(self, outcome: Outcome) -> None:
        """Outputs go to the sinks; a duplicate's re-emitted state is sent, not counted again."""
        if outcome.duplicate:
            self.metrics.duplicates.inc()
        elif outcome.risk is not None:
            self.metrics.risk.observe(outcome.risk.risk)
        if outcome.risk is not None:
            self.outputs.add(outcome.risk)
        if outcome.alert is not None:
            if not outcome.duplicate:
                self.metrics.alerts.labels(severity=outcome.alert.severity).inc()
            self.outputs.add(outcome.alert)

    def handle(self, raw: bytes, source: Source) -> Outcome | None:
        """parse + score; None for a dead letter. Every LATENCY_SAMPLE-th event is timed."""
        self._handled += 1
        if self._handled % LATENCY_SAMPLE:
            event = self.parse(raw, source)
            return self.score(event) if event is not None else None
        started = time.perf_counter()
        event = self.parse(raw, source)
        outcome = self.score(event) if event is not None else None
        self.metrics.latency.observe(time.perf_counter() - started)
        return outcome
