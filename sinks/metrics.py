"""Every Prometheus metric of distillguard, declared in one place.

Names are `distillguard_<thing>_<unit>`; labels are low-cardinality only (never an account id).
Each group owns or shares a registry, so tests and replays do not share counters:
- `Metrics`: the worker (intake, scoring, sinks, side services), served on :9464/metrics;
- `WebhookMetrics`: webhook deliveries, on the worker's registry (`WebhookMetrics.of`);
- `ApiMetrics`: the HTTP API, served on the API's /metrics.
Dashboards (deploy/grafana) and alert rules (deploy/prometheus) use these names: renaming one
breaks them (tests/unit/test_metrics.py checks every name they use is declared here).
Add a metric to the section of its topic; add a section for a new topic.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

RISK_BUCKETS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1)
SIDE_SERVICES = ("persist", "decide", "notify")   # stream/services.py


class TalliedCounter(Counter):
    """A Counter the pipeline bumps once per event: `tally += 1` is a plain int addition (an
    `inc()` takes a lock, ~0.5 us, as long as scoring a cheap event's profile step), added to
    the series whenever it is collected (a scrape, `get_sample_value`), so every read sees every
    increment made before it. Only one thread adds to `tally`; `inc()` works as usual."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tally = 0
        self._folded = 0
        self._fold_lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self._fold_lock:  # scrapes may overlap; the writer never takes this lock
            tally = self.tally
            if tally != self._folded:
                self.inc(tally - self._folded)
                self._folded = tally
        return super().collect()


class LatestGauge(Gauge):
    """A Gauge set once per event, by one thread, only through `latest = value`: a plain
    assignment, applied whenever the gauge is collected (None: never set)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.latest: float | None = None

    def collect(self) -> Iterable[Metric]:
        latest = self.latest
        if latest is not None:
            self.set(latest)
        return super().collect()


class Metrics:
    """The worker's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()

        # --- intake and scoring -----------------------------------------------------------------
        self.consumed = TalliedCounter("distillguard_events_consumed",
                                       "Raw events read from the input.", registry=r)
        self.scored = TalliedCounter("distillguard_events_scored",
                                     "Valid, first-seen events folded into a profile.", registry=r)
        self.duplicates = Counter("distillguard_events_duplicate",
                                  "Valid events whose event_id was already seen (not counted).",
                                  registry=r)
        self.dead_lettered = Counter("distillguard_events_dead_lettered",
                                     "Invalid events sent to the dead-letter destination.",
                                     ["reason"], registry=r)
        self.skipped = Counter("distillguard_spans_skipped",
                               "Spans of trace inputs that are not model calls (or repeat one).",
                               ["reason"], registry=r)
        self.latency = Histogram("distillguard_processing_latency_seconds",
                                 "Time to validate and score one event.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.stage_seconds = Counter("distillguard_stage_seconds",
                                     "Time each stage spent waiting for records, handling them "
                                     "and committing (flushing state and outputs): a stage that "
                                     "mostly waits is starved, not saturated.",
                                     ["stage", "phase"], registry=r)
        self.consumer_lag = Gauge("distillguard_consumer_lag_messages",
                                  "Messages behind the end of each input partition.",
                                  ["topic", "partition"], registry=r)
        self.offset_gaps = Counter("distillguard_offset_gaps",
                                   "Input offsets the consumer skipped (events not scored; "
                                   "see stream/offset_gaps.py).", registry=r)
        self.last_event_ts = LatestGauge("distillguard_last_event_timestamp_seconds",
                                         "Event time of the newest event processed.", registry=r)

        # --- engine outcomes --------------------------------------------------------------------
        self.accounts = Gauge("distillguard_accounts_tracked",
                              "Account profiles held by this worker.", registry=r)
        self.learned_offset = Gauge("distillguard_learned_state_offset",
                                    "Offset of the learned-state record this worker scores with "
                                    "(the same on every worker once they caught up).", registry=r)
        self.learned_events = Gauge("distillguard_learned_state_events",
                                    "Requests the population norms have learned (all segments).",
                                    registry=r)
        self.alerts = Counter("distillguard_alerts", "Alerts raised.", ["severity"], registry=r)
        self.risk = Histogram("distillguard_risk_score", "Account risk at each scoring (0-100).",
                              buckets=RISK_BUCKETS, registry=r)
        self.feedback = Counter("distillguard_feedback_labels",
                                "Analyst labels applied to profiles.", ["label"], registry=r)

        # --- sinks (store, decisions) -----------------------------------------------------------
        self.sink_rows = Counter("distillguard_sink_rows_written",
                                 "Rows upserted into the store.", ["sink"], registry=r)
        self.sink_failures = Counter("distillguard_sink_failures",
                                     "Failed store writes (retried).", ["sink"], registry=r)
        # -- enforcement policy and feedback (issue 10, items 5-6) ----------------------------
        self.decision_changes = Counter(
            "distillguard_decision_changes",
            "Decision changes the decider wrote (op new|deleted); mode shadow = recorded only, "
            "never sent to bouncers.", ["op", "action", "mode"], registry=r)
        # -- end of issue 10 items 5-6 block ---------------------------------------------------
        self.sink_retrying = Gauge("distillguard_sink_retrying",
                                   "1 while a sink is retrying a batch it could not write.",
                                   ["sink"], registry=r)
        self.sink_assignments = Counter(
            "distillguard_sink_assignments",
            "Partition assignments a sink's consumer received; more than one per start means "
            "its group rebalanced.", ["sink"], registry=r)

        # --- side services (stream/services.py) -------------------------------------------------
        self.service_restarts = Counter("distillguard_service_restarts",
                                        "Side services restarted after they failed.",
                                        ["service"], registry=r)

        # Zero series up front, so increase() and absent() see the very first change.
        for severity in ("high", "critical"):
            self.alerts.labels(severity=severity)
        for sink in ("store", "decode"):
            self.sink_failures.labels(sink=sink)
        self.sink_rows.labels(sink="store")
        self.sink_retrying.labels(sink="store").set(0)
        for service in SIDE_SERVICES:
            self.service_restarts.labels(service=service)


# --- webhooks (sinks/webhooks.py, stream/notify.py) ---------------------------------------------

class WebhookMetrics:
    """Webhook metrics on the worker's registry; one instance per registry (see `of`)."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, WebhookMetrics] = (
        weakref.WeakKeyDictionary())

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "distillguard_webhook_deliveries",
            "Alerts handled per webhook, by final outcome: delivered (2xx) or undeliverable "
            "(recorded on the webhook dead-letter topic).", ["webhook", "outcome"],
            registry=registry)
        self.failed_attempts = Counter(
            "distillguard_webhook_failed_attempts",
            "Delivery attempts that failed and will be retried, by cause.",
            ["webhook", "cause"], registry=registry)
        self.failing = Gauge("distillguard_webhook_failing",
                             "1 while the webhook's current alert is being retried.",
                             ["webhook"], registry=registry)

    @classmethod
    def of(cls, registry: CollectorRegistry) -> WebhookMetrics:
        """Registering a metric name twice raises, so every caller shares one instance."""
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]

    def declare(self, webhook: str) -> None:
        """Zero series up front, so rate() and absent() behave before the first alert."""
        for outcome in ("delivered", "undeliverable"):
            self.deliveries.labels(webhook=webhook, outcome=outcome)
        self.failing.labels(webhook=webhook).set(0)


# --- API (stream/api) ---------------------------------------------------------------------------

class ApiMetrics:
    """The API's metrics: per route template, never per account or token."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.requests = Counter("distillguard_api_requests", "HTTP requests served.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("distillguard_api_request_duration_seconds",
                                 "Time to serve a request.", ["route"], registry=r)
        self.auth_failures = Counter("distillguard_api_auth_failures",
                                     "Requests refused: 401 missing/invalid token, 403 scope.",
                                     ["reason"], registry=r)
        self.feedback = Counter("distillguard_api_feedback_messages",
                                "Label feedback messages sent to Kafka, by result.", ["result"],
                                registry=r)
        self.transitions = Counter("distillguard_api_alert_transitions",
                                   "Alert state changes made through the API.", ["to"],
                                   registry=r)


# --- OTLP/HTTP receiver (stream/ingest) ---------------------------------------------------------

class IngestMetrics:
    """`distillguard ingest`: its own registry, served on its own /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.requests = Counter("distillguard_ingest_requests", "OTLP/HTTP export requests by answer.",
                                ["code"], registry=r)
        self.events = Counter("distillguard_ingest_events", "Contract events produced to Kafka.",
                              registry=r)
        self.rejected = Counter("distillguard_ingest_rejected_spans",
                                "Model-call spans that could not become events.", ["reason"], registry=r)
        self.skipped = Counter("distillguard_spans_skipped",
                               "Spans that are not model calls (or repeat one).", ["reason"], registry=r)


# ---- gateways (issue 9): the LiteLLM callback and bouncer, inside the LiteLLM proxy process ----
class GatewayMetrics:
    """Registered in prometheus_client's default registry unless told otherwise, so the proxy's
    own /metrics (LiteLLM's prometheus callback) shows them next to its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import REGISTRY

        r = self.registry = registry or REGISTRY
        self.events_sent = Counter("distillguard_litellm_events_sent",
                                   "Contract events the LiteLLM callback produced to Kafka.",
                                   registry=r)
        self.events_dropped = Counter("distillguard_litellm_events_dropped",
                                      "Events the callback dropped: buffer full, unmappable, or "
                                      "Kafka failure.", ["reason"], registry=r)
        self.buffered = Gauge("distillguard_litellm_buffer_events",
                              "Events waiting in the callback's bounded buffer.", registry=r)
        self.bouncer_actions = Counter("distillguard_bouncer_actions",
                                       "Enforcement actions the bouncer applied to requests.",
                                       ["action"], registry=r)
        self.bouncer_polls = Counter("distillguard_bouncer_polls",
                                     "Polls of GET /v1/decisions/stream.", ["result"], registry=r)
        self.bouncer_decisions = Gauge("distillguard_bouncer_decisions",
                                       "Decisions held in the bouncer's cache.", registry=r)


_gateway_metrics: GatewayMetrics | None = None


def gateway_metrics() -> GatewayMetrics:
    """The process-wide instance (a proxy loads the callback module once)."""
    global _gateway_metrics
    if _gateway_metrics is None:
        _gateway_metrics = GatewayMetrics()
    return _gateway_metrics
