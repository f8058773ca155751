"""Webhook delivery of alerts: configured endpoints, the two body formats, and a retrying sender.

The sender knows HTTP, not Kafka: `stream/notify.py` feeds it alerts from its own consumer group
and decides what to commit. Webhook URLs are secrets (a Slack incoming-webhook URL is its own
credential), so a URL is only ever logged or recorded in its redacted form, and metrics name a
webhook by its short configured name (`json-0`, `slack-0`), never by URL.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import msgspec
from distillguard.models.outcomes import Alert
from distillguard.models.timestamps import to_rfc3339
from distillguard.sinks.metrics import WebhookMetrics  # declared with all metrics; re-exported
from distillguard.sinks.retry import Backoff
from yarl import URL

log = logging.getLogger(__name__)

BODY_VERSION = 1
USER_AGENT = f"distillguard-webhook/{BODY_VERSION}"
Format = Literal["json", "slack"]


# --- configuration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Webhook:
    name: str      # short and stable while the configured order is: the metric label and log name
    url: str       # secret: never log it, use `redacted`
    format: Format

    @property
    def id(self) -> str:
        """Stable short hash of format and URL: names the consumer group without revealing it."""
        return hashlib.sha256(f"{self.format}\x00{self.url}".encode()).hexdigest()[:12]

    @property
    def redacted(self) -> str:
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """Scheme, host and port only: credentials, path tokens and query strings all dropped."""
    try:
        u = URL(url)
        origin = str(u.origin())  # raises for relative or host-less URLs
    except (ValueError, TypeError):
        return "<unparseable url>"
    return origin + ("/…" if (u.raw_path not in ("", "/") or u.raw_query_string) else "")


def parse_webhooks(json_urls: str, slack_urls: str) -> list[Webhook]:
    """The comma-separated settings as webhooks; a bad URL fails at startup, not on first alert."""
    hooks: list[Webhook] = []
    seen: set[tuple[str, str]] = set()
    configured: tuple[tuple[Format, str], ...] = (("json", json_urls), ("slack", slack_urls))
    for fmt, raw in configured:
        urls = [u.strip() for u in raw.split(",") if u.strip()]
        for url in urls:
            try:
                parsed = URL(url)
            except ValueError:
                parsed = None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
                raise ValueError(f"{fmt} webhook {redact_url(url)} is not an http(s) URL")
            if (fmt, url) in seen:
                log.warning("%s webhook %s is configured twice; using it once", fmt, redact_url(url))
                continue
            seen.add((fmt, url))
            index = sum(1 for h in hooks if h.format == fmt)
            hooks.append(Webhook(f"{fmt}-{index}", url, fmt))
    return hooks


# --- bodies -------------------------------------------------------------------------------------

def delivery_key(alert: Alert) -> str:
    """The idempotency key of one publication of an alert: an escalation re-publishes the same
    `alert_id`, and a receiver deduplicating on the bare id would drop it."""
    return f"{alert.alert_id}:{alert.escalations}"


def json_body(alert: Alert) -> dict[str, Any]:
    """The generic body: the alert itself plus what a receiver needs to deduplicate and evolve."""
    return {
        "version": BODY_VERSION,
        "type": "distillguard.alert",
        "idempotency_key": delivery_key(alert),
        "alert_id": alert.alert_id,
        "escalations": alert.escalations,
        "account_id": alert.account_id,
        "severity": alert.severity,
        "risk": alert.risk,
        "reason_group": alert.reason_group,
        "event_time": to_rfc3339(alert.event_ts),
        "window": {"start": _rfc3339_or_none(alert.window_start),
                   "end": _rfc3339_or_none(alert.window_end)},
        "seq": alert.seq,
        "trigger_event_id": alert.trigger_event_id,
        "example_event_ids": list(alert.example_event_ids),
        "reasons": [{"code": r.code, "text": r.text, "strength": r.strength,
                     "evidence": dict(r.evidence)} for r in alert.reasons],
    }


def _rfc3339_or_none(ts: float | None) -> str | None:
    return None if ts is None else to_rfc3339(ts)


SLACK_TOP_REASONS = 3
_SEVERITY_ICON = {"critical": ":rotating_light:", "high": ":warning:"}


def slack_body(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook body: `text` for notifications, `blocks` for the message.

    Every value is escaped and clipped: account ids come from the logs, and an id such as
    `<!channel>` must not ping a channel; Slack rejects over-long blocks.
    """
    severity = alert.severity.upper()
    account = _slack_escape(_clip(alert.account_id, 120))
    icon = _SEVERITY_ICON.get(alert.severity, ":warning:")
    escalated = " (escalated)" if alert.escalations else ""
    reasons = alert.reasons[:SLACK_TOP_REASONS]
    reason_lines = "\n".join(f"• {_slack_escape(_clip(r.text, 300))}" for r in reasons)
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": f"Distillation alert: {severity}{escalated}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Severity*\n{severity}{escalated}"},
            {"type": "mrkdwn", "text": f"*Risk*\n{alert.risk:.1f} / 100"},
            {"type": "mrkdwn", "text": f"*Account*\n`{account}`"},
            {"type": "mrkdwn", "text": f"*Event time*\n{to_rfc3339(alert.event_ts)}"},
            {"type": "mrkdwn",
             "text": f"*Reason group*\n{_slack_escape(_clip(alert.reason_group, 80))}"},
        ]},
    ]
    if reasons:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": f"*Top reasons*\n{reason_lines}"}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"alert `{alert.alert_id}` · escalation {alert.escalations} · "
                                   f"seq {alert.seq} · distillguard"}]})
    return {"text": f"{icon} {severity} distillation alert{escalated}: account {account}, "
                    f"risk {alert.risk:.1f}", "blocks": blocks}


FORMATTERS: dict[str, Callable[[Alert], dict[str, Any]]] = {"json": json_body, "slack": slack_body}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- sending ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float = 10.0           # whole request, connect to last byte
    base_backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 600.0  # a receiver cannot park a webhook for longer than this

    def backoff(self, failures: int, retry_after_s: float | None = None) -> float:
        """The shared policy (sinks/retry.py) with equal jitter, so retries of many workers
        spread out but still grow; a Retry-After (429/503) is honoured, capped, never undercut."""
        return Backoff(self.base_backoff_s, self.max_backoff_s, jitter=0.5,
                       max_retry_after_s=self.max_retry_after_s).delay(failures, retry_after_s)


@dataclass(frozen=True)
class AttemptResult:
    outcome: Literal["delivered", "retry", "permanent"]
    cause: str = ""                   # metric label: timeout, connection, http_429, http_5xx, ...
    error: str = ""                   # redacted, for logs and the dead-letter record
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Delivery:
    outcome: Literal["delivered", "rejected", "abandoned"]
    attempts: int
    error: str = ""


def classify(status: int, retry_after: str | None = None, detail: str = "") -> AttemptResult:
    """What one HTTP status means for this alert: done, try again later, or never."""
    if 200 <= status < 300:
        return AttemptResult("delivered")
    error = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status in (408, 429) or status >= 500:
        cause = f"http_{status}" if status in (408, 429) else "http_5xx"
        return AttemptResult("retry", cause, error, parse_retry_after(retry_after))
    # 3xx (we do not follow redirects with a POST) and the remaining 4xx: the request itself is
    # wrong for this receiver (bad URL, revoked token, rejected body); retrying cannot fix it.
    return AttemptResult("permanent", f"http_{status}", error)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_encoder = msgspec.json.Encoder()
Wait = Callable[[float], Awaitable[None]]


class WebhookSender:
    """POSTs alerts to one webhook, retrying transient failures until delivered or rejected.

    Transient failures (connection errors, timeouts, 408, 429, 5xx) are retried forever with
    backoff: the alert stays uncommitted on Kafka, so nothing is lost and the caller sees the
    webhook lagging. `wait` lets the caller keep its Kafka consumer alive between attempts, and
    `wanted` lets it abandon an alert whose partition moved to another worker.
    """

    def __init__(self, webhook: Webhook, session: aiohttp.ClientSession,
                 policy: RetryPolicy | None = None, metrics: WebhookMetrics | None = None) -> None:
        self.webhook, self.session = webhook, session
        self.policy = policy or RetryPolicy()
        self.metrics = metrics
        self._format = FORMATTERS[webhook.format]

    def body(self, alert: Alert) -> bytes:
        return _encoder.encode(self._format(alert))

    async def attempt(self, alert: Alert, body: bytes | None = None) -> AttemptResult:
        """One POST; every failure is turned into a result, never raised."""
        body = self.body(alert) if body is None else body
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "Idempotency-Key": delivery_key(alert)}
        try:
            async with self.session.post(self.webhook.url, data=body, headers=headers,
                                         allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s)
                                         ) as resp:
                if 200 <= resp.status < 300:
                    return AttemptResult("delivered")
                detail = _printable(await resp.content.read(200))
                return classify(resp.status, resp.headers.get("Retry-After"), detail)
        except TimeoutError:
            return AttemptResult("retry", "timeout",
                                 f"no response within {self.policy.timeout_s:g}s")
        except aiohttp.ClientError as err:
            return AttemptResult("retry", "connection", self._describe(err))

    async def deliver(self, alert: Alert, wait: Wait = asyncio.sleep,
                      wanted: Callable[[], bool] = lambda: True) -> Delivery:
        body = self.body(alert)
        failures = 0
        try:
            while True:
                if not wanted():
                    return Delivery("abandoned", failures)
                result = await self.attempt(alert, body)
                if result.outcome == "delivered":
                    return Delivery("delivered", failures + 1)
                if result.outcome == "permanent":
                    return Delivery("rejected", failures + 1, result.error)
                failures += 1
                delay = self.policy.backoff(failures, result.retry_after_s)
                if self.metrics:
                    self.metrics.failed_attempts.labels(webhook=self.webhook.name,
                                                        cause=result.cause).inc()
                    self.metrics.failing.labels(webhook=self.webhook.name).set(1)
                log.warning("webhook %s (%s): alert %s attempt %d failed (%s); retrying in %.1fs",
                            self.webhook.name, self.webhook.redacted, delivery_key(alert), failures,
                            result.error, delay)
                await wait(delay)
        finally:
            if self.metrics and failures:
                self.metrics.failing.labels(webhook=self.webhook.name).set(0)

    def _describe(self, err: BaseException) -> str:
        """Error text with the URL scrubbed out: aiohttp puts URLs into some messages."""
        text = f"{type(err).__name__}: {err}"
        url = URL(self.webhook.url)
        for secret in (self.webhook.url, str(url), url.raw_path_qs, url.raw_path,
                       url.raw_query_string):
            if secret and secret not in ("/", ""):
                text = text.replace(secret, self.webhook.redacted)
        return " ".join(text.split())[:300]  # cut only after scrubbing: no half a secret left


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def _printable(raw: bytes) -> str:
    """A short, single-line, ASCII rendering of a receiver's error body (e.g. Slack's reason)."""
    return _UNPRINTABLE.sub(" ", raw.decode("utf-8", "replace")).strip()[:200]
