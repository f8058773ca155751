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
from distillguard.stream.intake import DeadLetter, Format, Reason, decode_message, parse_event
from distillguard.stream.intake.formats import with_format_hint
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES

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
                 clock: Callable[[], float] = time.time, fmt: Format = Format.CONTRACT,
                 account_attributes: tuple[str, ...] = DEFAULT_ACCOUNT_ATTRIBUTES) -> None:
        self.engine = engine
        self.format = fmt
        self.account_attributes = account_attributes
        self.metrics = metrics
        self.dead_letters = dead_letters
        self.outputs = outputs
        self.clock = clock
        self._handled = 0
        if fmt is not Format.CONTRACT:  # chosen once: the contract path pays nothing per event
            self.handle = self.handle_many
        for reason in Reason:  # every label exists from the start, so rates begin at zero
            metrics.dead_lettered.labels(reason=reason.value)
        for skip in ("not_genai", "not_model_call", "duplicate_span"):
            metrics.skipped.labels(reason=skip)

    def parse(self, raw: bytes, source: Source) -> Event | None:
        """Validate; invalid events go to the dead letters and None is returned."""
        self.metrics.consumed.inc()
        result = parse_event(raw, now=self.clock())
        if isinstance(result, DeadLetter):
            result = with_format_hint(raw, result)
            self.metrics.dead_lettered.labels(reason=result.reason.value).inc()
            where = source if isinstance(source, dict) else {"file": source[0], "line": source[1]}
            self.dead_letters.add(DeadLetterRecord(raw, result.reason.value, result.error, where))
            return None
        return result

    def parse_all(self, raw: bytes, source: Source, fmt: Format | None = None) -> list[Event]:
        """Every request in one message of the declared format (an OTLP batch, a JSON array, an
        ndjson body); dead letters are recorded, skipped spans counted."""
        fmt = fmt or self.format
        if fmt is Format.CONTRACT:
            event = self._parse_contract(raw, source)
            return [] if event is None else event if event.__class__ is list else [event]
        self.metrics.consumed.inc()
        return self._decode(raw, source, fmt)

    def _parse_contract(self, raw: bytes, source: Source) -> Event | list[Event] | None:
        """The fast path; only a failed single-event decode looks for an array or ndjson body."""
        result = parse_event(raw, now=self.clock())
        if result.__class__ is not DeadLetter:
            self.metrics.consumed.inc()
            return result
        if ((result.reason is Reason.NOT_AN_OBJECT and raw.lstrip()[:1] == b"[")
                or (result.reason is Reason.INVALID_JSON and b"\n" in raw.strip())):
            self.metrics.consumed.inc()
            return self._decode(raw, source, Format.CONTRACT)
        return self.parse(raw, source)  # records the dead letter, with its format hint

    def _decode(self, raw: bytes, source: Source, fmt: Format) -> list[Event]:
        decoded = decode_message(raw, fmt, self.clock(), self.account_attributes)
        for reason, n in decoded.skipped.items():
            self.metrics.skipped.labels(reason=reason).inc(n)
        if decoded.dead:
            where = source if isinstance(source, dict) else {"file": source[0], "line": source[1]}
            for dead in decoded.dead:
                self.metrics.dead_lettered.labels(reason=dead.reason.value).inc()
                self.dead_letters.add(DeadLetterRecord(raw, dead.reason.value, dead.error, where))
        return decoded.events

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

    def handle_many(self, raw: bytes, source: Source) -> Outcome | None:
        """parse_all + score each: for declared formats other than the contract."""
        return self._score_all(self.parse_all(raw, source))

    def _score_all(self, events: list[Event]) -> Outcome | None:
        outcomes = [self.score(event) for event in events]
        return outcomes[-1] if outcomes else None

    def handle(self, raw: bytes, source: Source) -> Outcome | None:
        """parse + score; None for a dead letter. Every LATENCY_SAMPLE-th event is timed."""
        self._handled += 1
        if self._handled % LATENCY_SAMPLE:
            event = self._parse_contract(raw, source)
            if event is None:
                return None
            return self.score(event) if event.__class__ is not list else self._score_all(event)
        started = time.perf_counter()
        event = self._parse_contract(raw, source)
        outcome = (None if event is None else self.score(event) if event.__class__ is not list
                   else self._score_all(event))
        self.metrics.latency.observe(time.perf_counter() - started)
        return outcome
