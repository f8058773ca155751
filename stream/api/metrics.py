"""Prometheus metrics of the API: per route template, never per account or token."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


class ApiMetrics:
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


class MetricsMiddleware:
    """Counts every request by its route *template* (e.g. /v1/accounts/{account_id}/risk)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            matched = scope.get("route")
            route = getattr(matched, "path_format", None) or getattr(matched, "path", None) \
                or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
