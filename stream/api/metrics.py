"""Counting the API's requests by route template. The metrics themselves are declared with all
others in sinks/metrics.py (`ApiMetrics`, re-exported here)."""

from __future__ import annotations

import time

from distillguard.sinks.metrics import ApiMetrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["METHODS", "ApiMetrics", "MetricsMiddleware"]
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


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
