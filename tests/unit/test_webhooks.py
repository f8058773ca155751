"""Webhook bodies, URL handling and the retry policy: pure functions, no network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import msgspec
import pytest
from distillguard.models.outcomes import Alert, Reason
from distillguard.sinks.webhooks import (
    BODY_VERSION,
    RetryPolicy,
    WebhookMetrics,
    WebhookSender,
    classify,
    delivery_key,
    json_body,
    parse_retry_after,
    parse_webhooks,
    redact_url,
    slack_body,
)
from distillguard.stream.notify import webhook_dlq_topic, webhook_group_id
from prometheus_client import CollectorRegistry

SLACK_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/XXXXSECRETXXXX"
REASONS = [
    Reason("logprob_harvesting", "97% of 300 requests take logprobs with max_tokens<=5", 0.97,
           {"tiny_logprob_share": 0.97, "logit_bias_share": 1.0}),
    Reason("logit_bias_probing", "100% of 300 requests set logit_bias", 0.9,
           {"logit_bias_share": 1.0}),
    Reason("scripted_around_the_clock", "active in all hours", 0.5, {"hour_entropy": 4.5}),
    Reason("unlike_peers", "behaviour unlike other accounts (anomaly 0.91)", 0.4,
           {"peer_anomaly": 0.91}),
]


def alert(**overrides) -> Alert:
    fields = {"alert_id": "a" * 32, "account_id": "acct-42", "severity": "critical",
              "risk": 97.3, "reasons": REASONS, "event_ts": 1793491200.25, "seq": 300,
              "trigger_event_id": "ev-300", "reason_group": "logit_extraction",
              "window_start": 1793480400.0, "window_end": 1793491200.25,
              "example_event_ids": ["ev-12", "ev-40"], "escalations": 1}
    return Alert(**{**fields, **overrides})


def roundtrip(body: dict) -> dict:
    """What the receiver parses: the body exactly as the sender encodes it."""
    return json.loads(msgspec.json.encode(body))


def test_json_body_carries_the_alert_and_its_idempotency_key():
    body = roundtrip(json_body(alert()))
    assert body == {
        "version": BODY_VERSION, "type": "distillguard.alert", "idempotency_key": "a" * 32 + ":1",
        "alert_id": "a" * 32, "escalations": 1, "account_id": "acct-42", "severity": "critical",
        "risk": 97.3, "reason_group": "logit_extraction", "event_time": "2026-11-01T00:00:00.250Z",
        "window": {"start": "2026-10-31T21:00:00.000Z", "end": "2026-11-01T00:00:00.250Z"},
        "seq": 300, "trigger_event_id": "ev-300", "example_event_ids": ["ev-12", "ev-40"],
        "reasons": [{"code": r.code, "text": r.text, "strength": r.strength,
                     "evidence": r.evidence} for r in REASONS],
    }
    assert datetime.fromisoformat(body["event_time"]) == datetime(2026, 11, 1, 0, 0, 0, 250000,
                                                                  tzinfo=UTC)


def test_an_escalation_has_its_own_idempotency_key():
    """The engine re-publishes an escalated alert under the same alert_id."""
    first, escalated = alert(escalations=0, severity="high"), alert(escalations=1)
    assert delivery_key(first) != delivery_key(escalated)
    assert delivery_key(first) == delivery_key(alert(escalations=0, severity="high"))
    assert json_body(first)["alert_id"] == json_body(escalated)["alert_id"]


def test_json_body_of_a_minimal_alert():
    body = roundtrip(json_body(Alert("b" * 32, "acct-1", "high", 81.0, [], 1793491200.0, 26,
                                     "ev-26")))
    assert body["window"] == {"start": None, "end": None}
    assert body["example_event_ids"] == [] and body["escalations"] == 0
    assert body["idempotency_key"] == "b" * 32 + ":0" and body["reason_group"] == "behaviour"


def test_slack_body_has_text_and_blocks_with_the_top_reasons():
    body = roundtrip(slack_body(alert()))
    assert set(body) == {"text", "blocks"}
    assert "CRITICAL" in body["text"] and "acct-42" in body["text"] and "97.3" in body["text"]
    assert "escalated" in body["text"]
    rendered = json.dumps(body["blocks"])
    for needle in ("CRITICAL", "acct-42", "97.3 / 100", "2026-11-01T00:00:00.250Z", "a" * 32,
                   "logit_extraction", "escalation 1"):
        assert needle in rendered
    reasons = next(b for b in body["blocks"] if "Top reasons" in b.get("text", {}).get("text", ""))
    lines = reasons["text"]["text"].splitlines()[1:]
    # strongest first (as the engine sorts them), escaped for Slack's mrkdwn
    assert lines == [f"• {r.text.replace('<', '&lt;')}" for r in REASONS[:3]]
    assert all(b["type"] in {"header", "section", "context"} for b in body["blocks"])


def test_slack_body_escapes_and_clips_values_from_the_logs():
    body = slack_body(alert(account_id="<!channel> & " + "x" * 500,
                            reasons=[Reason("r", "<@U123> " + "y" * 5000, 1.0)]))
    rendered = json.dumps(body)
    assert "<!channel>" not in rendered and "<@U123>" not in rendered
    assert "&lt;!channel&gt; &amp;" in rendered
    header = body["blocks"][0]["text"]["text"]
    assert len(header) <= 150  # Slack's header limit
    for block in body["blocks"]:
        for field in [block.get("text", {}), *block.get("fields", [])]:
            assert len(field.get("text", "")) <= 3000  # Slack's section text limit


def test_slack_body_without_reasons_is_still_valid():
    body = slack_body(alert(reasons=[], escalations=0))
    assert body["text"] and not any("Top reasons" in json.dumps(b) for b in body["blocks"])
    assert "escalated" not in json.dumps(body)


@pytest.mark.parametrize(("url", "expected"), [
    (SLACK_URL, "https://hooks.slack.com/…"),
    ("https://user:pw@example.com:8443/hook?token=s3cr3t", "https://example.com:8443/…"),
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("http://example.com/", "http://example.com"),
    ("http://[::1]:9000/a", "http://[::1]:9000/…"),
    ("/relative/path", "<unparseable url>"),
    ("not a url", "<unparseable url>"),
])
def test_redacted_urls_keep_only_scheme_host_and_port(url, expected):
    assert redact_url(url) == expected


def test_parse_webhooks_names_by_format_and_index_and_drops_duplicates():
    hooks = parse_webhooks(" http://a.example/x , http://b.example/y,http://a.example/x,",
                           SLACK_URL)
    assert [(h.name, h.format, h.url) for h in hooks] == [
        ("json-0", "json", "http://a.example/x"), ("json-1", "json", "http://b.example/y"),
        ("slack-0", "slack", SLACK_URL)]
    assert parse_webhooks("", "") == []


def test_invalid_webhook_url_fails_without_revealing_it():
    with pytest.raises(ValueError) as err:
        parse_webhooks("", "ftp://hooks.example/services/T0SECRET")
    assert "T0SECRET" not in str(err.value) and "slack" in str(err.value)


def test_group_ids_are_stable_distinct_and_do_not_contain_the_url():
    [json_hook], [slack_hook] = parse_webhooks(SLACK_URL, ""), parse_webhooks("", SLACK_URL)
    again = parse_webhooks(SLACK_URL, "")[0]
    assert webhook_group_id("dg", json_hook) == webhook_group_id("dg", again)
    assert webhook_group_id("dg", json_hook) != webhook_group_id("dg", slack_hook)
    assert "SECRET" not in webhook_group_id("dg", slack_hook)
    assert webhook_dlq_topic("alerts") == "alerts.webhook-dlq"


@pytest.mark.parametrize(("status", "outcome", "cause"), [
    (200, "delivered", ""), (202, "delivered", ""), (204, "delivered", ""),
    (500, "retry", "http_5xx"), (502, "retry", "http_5xx"), (503, "retry", "http_5xx"),
    (408, "retry", "http_408"), (429, "retry", "http_429"),
    (400, "permanent", "http_400"), (401, "permanent", "http_401"),
    (403, "permanent", "http_403"), (404, "permanent", "http_404"),
    (410, "permanent", "http_410"), (301, "permanent", "http_301"),
])
def test_classify_statuses(status, outcome, cause):
    result = classify(status)
    assert (result.outcome, result.cause) == (outcome, cause)


def test_classify_keeps_retry_after_and_detail():
    result = classify(429, "7", "slow down")
    assert result.retry_after_s == 7.0 and result.error == "HTTP 429: slow down"


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("120") == 120.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(soon) <= 31
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(base_backoff_s=1.0, max_backoff_s=8.0, max_retry_after_s=60.0)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [policy.backoff(failures) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not fixed
    assert policy.backoff(1, retry_after_s=30.0) == 30.0
    assert policy.backoff(1, retry_after_s=3600.0) == 60.0  # capped
    assert 0.5 <= policy.backoff(1, retry_after_s=0.0) <= 1.0  # never undercuts the backoff


def test_error_texts_are_scrubbed_of_the_url():
    [hook] = parse_webhooks("", SLACK_URL)
    sender = WebhookSender(hook, session=None)  # no request is made
    for message in (f"cannot POST {SLACK_URL}",
                    "bad path /services/T0SECRET/B0SECRET/XXXXSECRETXXXX",
                    "x" * 280 + f" {SLACK_URL}",  # scrubbed before it is cut to length
                    f"line one\n{SLACK_URL}"):
        text = sender._describe(RuntimeError(message))
        assert "SECRET" not in text and text.startswith("RuntimeError: ")


def test_webhook_metrics_are_registered_once_per_registry():
    registry = CollectorRegistry()
    metrics = WebhookMetrics.of(registry)
    assert WebhookMetrics.of(registry) is metrics
    metrics.declare("json-0")
    assert registry.get_sample_value("distillguard_webhook_deliveries_total",
                                     {"webhook": "json-0", "outcome": "delivered"}) == 0
    assert WebhookMetrics.of(CollectorRegistry()) is not metrics
