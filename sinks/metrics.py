"""Every Prometheus metric of distillguard, declared in one place.

Names are `distillguard_<thing>_<unit>`; labels are low-cardinality only (never an account id).
A `Metrics` object owns its registry so tests and replays do not share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RISK_BUCKETS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.consumed = Counter("distillguard_events_consumed", "Raw events read from the input.",
                                registry=r)
        self.scored = Counter("distillguard_events_scored",
                              "Valid, first-seen events folded into a profile.", registry=r)
        self.duplicates = Counter("distillguard_events_duplicate",
                                  "Valid events whose event_id was already seen (not counted).",
                                  registry=r)
        self.dead_lettered = Counter("distillguard_events_dead_lettered",
                                     "Invalid events sent to the dead-letter destination.",
                                     ["reason"], registry=r)
        self.latency = Histogram("distillguard_processing_latency_seconds",
                                 "Time to validate and score one event.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.consumer_lag = Gauge("distillguard_consumer_lag_messages",
                                  "Messages behind the end of each input partition.",
                                  ["topic", "partition"], registry=r)
        self.accounts = Gauge("distillguard_accounts_tracked",
                              "Account profiles held by this worker.", registry=r)
        self.alerts = Counter("distillguard_alerts", "Alerts raised.", ["severity"], registry=r)
        self.risk = Histogram("distillguard_risk_score", "Account risk at each scoring (0-100).",
                              buckets=RISK_BUCKETS, registry=r)
        self.sink_rows = Counter("distillguard_sink_rows_written",
                                 "Rows upserted into the store.", ["sink"], registry=r)
        self.sink_failures = Counter("distillguard_sink_failures",
                                     "Failed store writes (retried).", ["sink"], registry=r)
        self.offset_gaps = Counter("distillguard_offset_gaps",
                                   "Input offsets the consumer skipped (events not scored; "
                                   "see stream/offset_gaps.py).", registry=r)
        self.feedback = Counter("distillguard_feedback_labels",
                                "Analyst labels applied to profiles.", ["label"], registry=r)
        self.last_event_ts = Gauge("distillguard_last_event_timestamp_seconds",
                                   "Event time of the newest event processed.", registry=r)
        for severity in ("high", "critical"):
            self.alerts.labels(severity=severity)
        for sink in ("store", "decode"):  # so increase() sees the very first failure
            self.sink_failures.labels(sink=sink)
        self.sink_rows.labels(sink="store")



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
