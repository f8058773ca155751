"""One step, shared by the Kafka worker and the file replay: raw bytes -> validated event ->
engine -> outputs, with dead letters and metrics. There is no second pipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from distillguard.models.engine import Engine
from distillguard.models.event import Event
from distillguard.models.outcomes import Alert, Outcome, RiskUpdate
from distillguard.models.profile import profile_decoder, profile_encoder
from distillguard.models.topology import LocalTopology
from distillguard.sinks.base import Sink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.intake import DeadLetter, Format, Reason, decode_message, parse_event
from distillguard.stream.intake.formats import with_format_hint
from distillguard.stream.intake.genai import DEFAULT_ACCOUNT_ATTRIBUTES

# Where an event came from: topic/partition/offset (a dict), or (file, line) - a tuple, because
# building a dict per line costs more than validating some events.
Source = dict | tuple[str, int]
LATENCY_SAMPLE = 16  # timing every event costs more than a quarter of the cheap ones
log = logging.getLogger("distillguard.pipeline")
_json = msgspec.json.Encoder()


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
                 clock: Callable[[], float] = time.time, restore_profiles: bool = True,
                 fmt: Format = Format.CONTRACT,
                 account_attributes: tuple[str, ...] = DEFAULT_ACCOUNT_ATTRIBUTES,
                 topology: LocalTopology | None = None) -> None:
        """`restore_profiles`: keep a copy of each profile before its event, so a scoring error
        puts it back exactly (the worker: a profile goes to the changelog anyway). Without it (file
        replay, ~7% faster) a failed event's partial update stays if the profile is encodable.
        `fmt`: the input's declared format (stream/intake/formats.py).
        `topology`: the other stages in this process (file replay); None in the Kafka worker,
        whose agents carry the engine's links and verdicts through topics."""
        self.engine = engine
        self.topology = topology
        self.restore_profiles = restore_profiles
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
        self.metrics.consumed.tally += 1
        result = parse_event(raw, now=self.clock())
        if isinstance(result, DeadLetter):
            result = with_format_hint(raw, result)
            self.reject(raw, source, result.reason, result.error)
            return None
        return result

    def parse_all(self, raw: bytes, source: Source, fmt: Format | None = None) -> list[Event]:
        """Every request in one message of the declared format (an OTLP batch, a JSON array, an
        ndjson body); dead letters are recorded, skipped spans counted."""
        fmt = fmt or self.format
        if fmt is Format.CONTRACT:
            event = self._parse_contract(raw, source)
            return [] if event is None else event if event.__class__ is list else [event]
        self.metrics.consumed.tally += 1
        return self._decode(raw, source, fmt)

    def _parse_contract(self, raw: bytes, source: Source) -> Event | list[Event] | None:
        """The fast path; only a failed single-event decode looks for an array or ndjson body."""
        result = parse_event(raw, now=self.clock())
        if result.__class__ is not DeadLetter:
            self.metrics.consumed.tally += 1
            return result
        if ((result.reason is Reason.NOT_AN_OBJECT and raw.lstrip()[:1] == b"[")
                or (result.reason in (Reason.INVALID_JSON, Reason.TRAILING_DATA)
                    and b"\n" in raw.strip())):
            self.metrics.consumed.tally += 1
            return self._decode(raw, source, Format.CONTRACT)
        return self.parse(raw, source)  # records the dead letter, with its format hint

    def _decode(self, raw: bytes, source: Source, fmt: Format) -> list[Event]:
        try:
            decoded = decode_message(raw, fmt, self.clock(), self.account_attributes)
        except RecursionError:
            self.reject(raw, source, Reason.TOO_DEEP, f"{fmt.value}: JSON nested too deeply")
            return []
        for reason, n in decoded.skipped.items():
            self.metrics.skipped.labels(reason=reason).inc(n)
        for dead in decoded.dead:
            self.reject(raw, source, dead.reason, dead.error)
        return decoded.events

    def _recover_profile(self, account_id: str, snapshot: bytes | None) -> None:
        """Back to the snapshot (b"": there was no profile). Without one, keep the profile if it
        can be encoded, else drop it: a profile that cannot be stored must never stay."""
        profiles = self.engine.profiles
        try:
            if snapshot == b"":
                profiles.pop(account_id, None)
            elif snapshot is not None:
                profiles[account_id] = profile_decoder.decode(snapshot)
            elif account_id in profiles:
                profile_encoder.encode(profiles[account_id])
        except (OverflowError, TypeError, ValueError, UnicodeEncodeError):  # not encodable
            log.error("profile of account %r cannot be encoded after a scoring error: dropped",
                      account_id[:128])
            profiles.pop(account_id, None)

    def reject(self, raw: bytes, source: Source, reason: Reason, error: str) -> None:
        """One dead letter: counted by reason, kept with its original bytes and origin."""
        self.metrics.dead_lettered.labels(reason=reason.value).inc()
        where = source if isinstance(source, dict) else {"file": source[0], "line": source[1]}
        self.dead_letters.add(DeadLetterRecord(raw, reason.value, error, where))

    def score(self, event: Event, raw: bytes | None = None, source: Source | None = None,
              ) -> Outcome | None:
        """Fold a valid event into its account's profile and emit what the engine decides.

        If scoring raises (a bug, or a value the profile cannot hold), the event becomes a
        `scoring_error` dead letter, the account's profile is put back as it was before the
        event (or, without `restore_profiles`, kept only if it is encodable), and None is
        returned: one event never stops the stream or poisons a profile.
        `raw`/`source` are the event's original bytes and origin (else a re-encoding of it)."""
        snapshot = None
        if self.restore_profiles:
            before = self.engine.profiles.get(event.account_id)
            snapshot = profile_encoder.encode(before) if before is not None else b""
        try:
            outcome = self.engine.process(event)
        except Exception as err:  # any failure of one event, by design: a bug must not stop the stream
            self._scoring_failed(event, err, snapshot, raw, source)
            return None
        self.record(outcome)
        if not outcome.duplicate:
            metrics = self.metrics  # plain additions, folded in at each scrape (sinks/metrics.py)
            metrics.scored.tally += 1
            metrics.last_event_ts.latest = event.ts
        if self.topology is not None:
            for settled in self.topology.settle():
                self.record(settled)
        return outcome

    def finish(self, account_ids: list[str]) -> None:
        """End of a replay: score what is unscored and settle the other stages."""
        if self.topology is None:
            raise RuntimeError("finish() is for a pipeline that runs every stage in-process")
        for outcome in self.topology.finish(account_ids):
            self.record(outcome)

    def _scoring_failed(self, event: Event, err: Exception, snapshot: bytes | None,
                        raw: bytes | None, source: Source | None) -> None:
        frame = err.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = (f" at {frame.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.tb_lineno}"
                 if frame is not None else "")
        # Logs never carry event contents: the type and place of the error, and the event id.
        log.error("scoring event %r of account %r failed with %s%s; dead-lettered",
                  event.event_id[:128], event.account_id[:128], type(err).__name__, where)
        self._recover_profile(event.account_id, snapshot)
        if raw is None:
            raw = _json.encode(event)
        if source is None:
            source = {"event_id": event.event_id, "account_id": event.account_id}
        self.reject(raw, source, Reason.SCORING_ERROR,
                    f"{type(err).__name__}{where}: {str(err)[:300]}")

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
            return (self.score(event, raw, source) if event.__class__ is not list
                    else self._score_all(event))
        started = time.perf_counter()
        event = self._parse_contract(raw, source)
        outcome = (None if event is None else self.score(event, raw, source)
                   if event.__class__ is not list else self._score_all(event))
        self.metrics.latency.observe(time.perf_counter() - started)
        return outcome
