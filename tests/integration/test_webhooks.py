"""Webhook delivery on the real broker, against local receivers on 127.0.0.1.

A receiver answers each path by a script (500, a hang past the client timeout, 429 with
Retry-After, ...), records every request, and the tests check what a webhook owner would: every
alert arrives exactly once as a 2xx, each account's alerts in order, rejected ones land on the
dead-letter topic, and a webhook that is down neither blocks another webhook nor scoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import distillguard.stream.notify as notify
import msgspec
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from distillguard.models.outcomes import Alert, Reason
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.webhooks import RetryPolicy, delivery_key, json_body
from distillguard.stream.config import Settings
from distillguard.stream.notify import run_notifier, webhook_dlq_topic
from distillguard.stream.topics import ensure_topics

from tests.helpers import BASE_TS, chat_events, harvester_events
from tests.integration.test_kafka_e2e import producer as kafka_producer
from tests.integration.worker_proc import WorkerProcess, free_port

pytestmark = [pytest.mark.kafka]

FAST = RetryPolicy(timeout_s=1.0, base_backoff_s=0.05, max_backoff_s=0.4, max_retry_after_s=5.0)
SECRETS = ("s3cr3t", "T0SECRET", "B0SECRET")  # parts of the webhook URLs that must never leak
HANG_S = 2.0  # longer than FAST.timeout_s, short enough for the receiver to shut down quickly


# --- a scripted receiver ------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "answer"
    hang: bool = False


@dataclass(frozen=True)
class Hit:
    path: str
    at: float
    answer: Answer
    body: dict
    headers: dict[str, str]


def flaky(n: int) -> Answer:
    """500, then a hang, then 429 with Retry-After, then mostly fine with an occasional 503."""
    return ([Answer(500), Answer(hang=True), Answer(429, {"Retry-After": "1"})][n] if n < 3
            else Answer(503) if n % 5 == 4 else Answer())


class Receiver:
    def __init__(self, scripts: dict[str, Callable[[int], Answer]]) -> None:
        self.scripts = scripts  # path prefix -> answer for the n-th request on it
        self.hits: list[Hit] = []

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, shutdown_timeout=HANG_S + 1, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()  # a free port, no race
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        prefix = next(p for p in self.scripts if request.path.startswith(p))
        answer = self.scripts[prefix](sum(1 for h in self.hits if h.path == prefix))
        self.hits.append(Hit(prefix, time.monotonic(), answer, await request.json(),
                             dict(request.headers)))
        if answer.hang:
            await asyncio.sleep(HANG_S)
        return web.Response(status=answer.status, headers=answer.headers, text=answer.body)

    def ok(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path and not h.answer.hang
                and 200 <= h.answer.status < 300]

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


# --- helpers ------------------------------------------------------------------------------------

def settings_for(broker: str, **webhooks: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(broker=broker, app_id=f"dg-wh-{tag}", alerts_topic=f"wh-{tag}-alerts",
                    partitions=3, **webhooks)


def make_alerts(accounts: int, per_account: int) -> list[Alert]:
    """Interleaved across accounts; seq grows per account so order is checkable."""
    return [Alert(alert_id=uuid.uuid4().hex, account_id=f"wh-acct-{a}", severity="high",
                  risk=80.0 + k, reasons=[Reason("logprob_harvesting", f"{90 + k}% tiny", 0.9,
                                                 {"tiny_logprob_share": 0.9})],
                  event_ts=BASE_TS / 1000 + 60 * k, seq=k + 1, trigger_event_id=f"ev-{a}-{k}")
            for k in range(per_account) for a in range(accounts)]


async def produce(settings: Settings, alerts: list[Alert], extra: list[bytes] = ()) -> None:
    await asyncio.to_thread(ensure_topics, settings.broker, [settings.alerts_topic], 3)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all")
    await producer.start()
    try:
        for a in alerts:
            await producer.send(settings.alerts_topic, key=a.account_id.encode(),
                                value=msgspec.json.encode(a))
        for raw in extra:
            await producer.send(settings.alerts_topic, key=b"wh-garbage", value=raw)
        await producer.flush()
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def notifier(settings: Settings, metrics: Metrics):
    task = asyncio.create_task(run_notifier(settings, metrics, policy=FAST))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0,
                     task: asyncio.Task | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if task is not None and task.done():
            task.result()  # raise the notifier's error instead of timing out
            raise AssertionError(f"notifier stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def slack_seq(hit: Hit) -> int:
    context = hit.body["blocks"][-1]["elements"][0]["text"]
    return int(context.split("seq ")[1].split(" ")[0])


def slack_account(hit: Hit) -> str:
    return hit.body["text"].split("account ")[1].split(",")[0]


def assert_ordered(hits: list[Hit], account_of, seq_of) -> None:
    by_account: dict[str, list[int]] = defaultdict(list)
    for h in hits:
        by_account[account_of(h)].append(seq_of(h))
    for account, seqs in by_account.items():
        assert seqs == sorted(seqs), f"{account} out of order: {seqs}"


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- tests --------------------------------------------------------------------------------------

def test_flaky_receivers_get_every_alert_once_in_order_in_both_formats(kafka_broker, caplog):
    caplog.set_level(logging.INFO)
    alerts = make_alerts(accounts=4, per_account=5)
    # the engine re-publishes an escalated alert under the same id: it must arrive too
    alerts.append(msgspec.structs.replace(alerts[0], severity="critical", seq=10, escalations=1))
    by_key = {delivery_key(a): a for a in alerts}
    assert len(by_key) == len(alerts)
    metrics = Metrics()

    async def scenario() -> Receiver:
        async with Receiver({"/json": flaky, "/slack": flaky}) as rx:
            settings = settings_for(
                kafka_broker, webhook_urls=rx.url("/json?token=s3cr3t"),
                webhook_slack_urls=rx.url("/slack/services/T0SECRET/B0SECRET/XXXX"))
            await produce(settings, alerts)
            async with notifier(settings, metrics) as task:
                await eventually(lambda: len(rx.ok("/json")) >= len(alerts)
                                 and len(rx.ok("/slack")) >= len(alerts),
                                 "every alert on both webhooks", task=task)
                await asyncio.sleep(1.0)  # room for a (wrong) duplicate to show up
            # a clean restart: everything was committed, so nothing is sent again
            before = len(rx.hits)
            async with notifier(settings, Metrics()) as task:
                await asyncio.sleep(2.0)
                assert not task.done()
            assert len(rx.hits) == before
        return rx

    rx = asyncio.run(scenario())
    json_ok, slack_ok = rx.ok("/json"), rx.ok("/slack")
    # exactly once as a 2xx each, keyed by the alert id
    assert Counter(h.headers["Idempotency-Key"] for h in json_ok) == Counter(list(by_key))
    assert Counter(h.headers["Idempotency-Key"] for h in slack_ok) == Counter(list(by_key))
    for h in json_ok:
        expected = json.loads(msgspec.json.encode(json_body(by_key[h.body["idempotency_key"]])))
        assert h.body == expected and h.body["idempotency_key"] == h.headers["Idempotency-Key"]
        assert h.headers["Content-Type"] == "application/json"
    for h in slack_ok:
        assert set(h.body) == {"text", "blocks"}
        assert by_key[h.headers["Idempotency-Key"]].alert_id in json.dumps(h.body["blocks"])
    # in order per account, counting every attempt: a retried alert is never overtaken
    assert_ordered(rx.on("/json"), lambda h: h.body["account_id"], lambda h: h.body["seq"])
    assert_ordered(rx.on("/slack"), slack_account, slack_seq)
    # the script really ran: a 500, a hang past the timeout, a 429 whose Retry-After was honoured
    for path in ("/json", "/slack"):
        hits = rx.on(path)
        assert [(h.answer.status, h.answer.hang) for h in hits[:3]] == [
            (500, False), (200, True), (429, False)]
        assert hits[1].at - hits[0].at < 1.0 and hits[2].at - hits[1].at >= FAST.timeout_s
        assert hits[3].at - hits[2].at >= 0.95, "Retry-After: 1 not honoured"
    for hook in ("json-0", "slack-0"):
        assert sample(metrics, "distillguard_webhook_deliveries_total", webhook=hook,
                      outcome="delivered") == len(alerts)
        assert sample(metrics, "distillguard_webhook_deliveries_total", webhook=hook,
                      outcome="undeliverable") == 0
        for cause in ("http_5xx", "timeout", "http_429"):
            assert sample(metrics, "distillguard_webhook_failed_attempts_total", webhook=hook,
                          cause=cause) >= 1
        assert sample(metrics, "distillguard_webhook_failing", webhook=hook) == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying in" in logged and "http://127.0.0.1" in logged
    assert_no_secrets(logged)


def test_an_alert_in_flight_at_shutdown_is_delivered_after_restart(kafka_broker):
    up = asyncio.Event()
    first, second = make_alerts(accounts=1, per_account=2)

    async def scenario() -> Receiver:
        async with Receiver({"/hook": lambda n: Answer() if up.is_set() else Answer(503)}) as rx:
            settings = settings_for(kafka_broker, webhook_urls=rx.url("/hook"))
            await produce(settings, [first, second])
            async with notifier(settings, Metrics()) as task:
                await eventually(lambda: len(rx.on("/hook")) >= 3, "retries", task=task)
            up.set()  # stopped mid-retry, nothing committed; the receiver recovers
            async with notifier(settings, Metrics()) as task:
                await eventually(lambda: len(rx.ok("/hook")) >= 2, "both alerts", task=task)
                await asyncio.sleep(1.0)
        return rx

    rx = asyncio.run(scenario())
    assert [h.body["alert_id"] for h in rx.ok("/hook")] == [first.alert_id, second.alert_id]
    failed = [h for h in rx.on("/hook") if h.answer.status == 503]
    assert failed and {h.body["alert_id"] for h in failed} == {first.alert_id}


def test_a_long_outage_keeps_the_group_membership(kafka_broker, caplog, monkeypatch):
    """Polling between attempts keeps the member in its group past max.poll.interval.ms; a
    dropped member would rebalance and (with another worker) deliver the alert twice."""
    caplog.set_level(logging.INFO, logger="aiokafka.consumer.group_coordinator")
    monkeypatch.setattr(notify, "AIOKafkaConsumer", partial(
        AIOKafkaConsumer, max_poll_interval_ms=1500, session_timeout_ms=6000,
        heartbeat_interval_ms=500))
    alerts = make_alerts(accounts=1, per_account=2)

    async def scenario() -> Receiver:
        up_at = time.monotonic() + 4.5  # three times max.poll.interval.ms
        async with Receiver({"/hook": lambda n: Answer() if time.monotonic() > up_at
                             else Answer(503)}) as rx:
            settings = settings_for(kafka_broker, webhook_urls=rx.url("/hook"))
            await produce(settings, alerts)
            async with notifier(settings, Metrics()) as task:
                await eventually(lambda: len(rx.ok("/hook")) >= 2, "both alerts", task=task)
                await asyncio.sleep(0.5)
        return rx

    rx = asyncio.run(scenario())
    assert [h.body["alert_id"] for h in rx.ok("/hook")] == [a.alert_id for a in alerts]
    joins = [r for r in caplog.records if "joining group" in r.getMessage()]
    assert len(joins) == 1, [r.getMessage() for r in caplog.records]


def test_two_workers_share_a_webhook_without_losing_or_reordering(kafka_broker):
    """A second member joins mid-retry: partitions move, in-flight alerts are handed over."""
    alerts = make_alerts(accounts=6, per_account=3)

    async def scenario() -> Receiver:
        up_at = time.monotonic() + 2.5
        async with Receiver({"/hook": lambda n: Answer() if time.monotonic() > up_at
                             else Answer(503)}) as rx:
            settings = settings_for(kafka_broker, webhook_urls=rx.url("/hook"))
            await produce(settings, alerts)
            async with notifier(settings, Metrics()) as first:
                await eventually(lambda: len(rx.on("/hook")) >= 3, "retries", task=first)
                async with notifier(settings, Metrics()) as second:
                    await eventually(lambda: {h.body["alert_id"] for h in rx.ok("/hook")}
                                     >= {a.alert_id for a in alerts}, "every alert",
                                     task=second)
                    await asyncio.sleep(1.0)
                    assert not first.done()
        return rx

    rx = asyncio.run(scenario())
    delivered = [h.body["alert_id"] for h in rx.ok("/hook")]
    assert set(delivered) == {a.alert_id for a in alerts}
    assert len(delivered) - len(alerts) <= 3, "at most the in-flight alerts are re-sent"
    assert_ordered(rx.ok("/hook"), lambda h: h.body["account_id"], lambda h: h.body["seq"])


def test_rejected_alerts_go_to_the_dead_letter_topic_and_block_no_one(kafka_broker):
    alerts = make_alerts(accounts=2, per_account=3)
    garbage = b"{not an alert"
    metrics = Metrics()
    scripts = {"/reject": lambda n: Answer(400, body="invalid_payload"),
               "/down": lambda n: Answer(503), "/ok": lambda n: Answer()}

    async def scenario() -> tuple[Receiver, list]:
        async with Receiver(scripts) as rx:
            settings = settings_for(
                kafka_broker, webhook_urls=f"{rx.url('/reject?token=s3cr3t')},{rx.url('/down')}",
                webhook_slack_urls=rx.url("/ok"))
            await produce(settings, alerts, extra=[garbage])
            async with notifier(settings, metrics) as task:
                await eventually(lambda: len(rx.ok("/ok")) >= len(alerts)
                                 and len(rx.on("/reject")) >= len(alerts),
                                 "deliveries past a rejecting and a down webhook", task=task)
                dead = await read_dead_letters(settings, lambda recs: sum(
                    r.headers["dlq.webhook"] in ("json-0", "slack-0") for r in recs) >= 8)
                await asyncio.sleep(0.5)  # a retried 400 would show up here
                assert sample(metrics, "distillguard_webhook_failing", webhook="json-1") == 1
        return rx, dead

    rx, dead = asyncio.run(scenario())
    assert sorted(h.headers["Idempotency-Key"] for h in rx.ok("/ok")) == sorted(
        delivery_key(a) for a in alerts)
    assert len(rx.on("/reject")) == len(alerts), "a 400 must not be retried"
    assert rx.on("/down") and not rx.ok("/down")
    rejected = [r for r in dead if r.headers["dlq.webhook"] == "json-0"
                and r.headers["dlq.reason"] == "rejected"]
    assert sorted(r.value for r in rejected) == sorted(msgspec.json.encode(a) for a in alerts)
    for r in rejected:
        assert r.key == msgspec.json.decode(r.value, type=Alert).account_id.encode()
        assert r.headers["dlq.error"] == "HTTP 400: invalid_payload"
        assert r.headers["dlq.webhook.format"] == "json"
    undecodable = [r for r in dead if r.headers["dlq.reason"] == "undecodable"]
    assert {r.headers["dlq.webhook"] for r in undecodable} >= {"json-0", "slack-0"}
    assert all(r.value == garbage for r in undecodable)
    for r in dead:
        assert_no_secrets(json.dumps(r.headers))
        assert "127.0.0.1" not in json.dumps(r.headers)

    def count(hook: str, outcome: str) -> float:
        return sample(metrics, "distillguard_webhook_deliveries_total", webhook=hook,
                      outcome=outcome)

    assert (count("json-0", "delivered"), count("json-0", "undeliverable")) == (0, 7)
    assert (count("slack-0", "delivered"), count("slack-0", "undeliverable")) == (6, 1)
    assert count("json-1", "delivered") == 0
    assert sample(metrics, "distillguard_webhook_failed_attempts_total", webhook="json-1",
                  cause="http_5xx") >= 3


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


async def read_dead_letters(settings: Settings, enough: Callable[[list[DeadLetter]], bool],
                            timeout_s: float = 20.0) -> list[DeadLetter]:
    topic = webhook_dlq_topic(settings.alerts_topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        out: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while not enough(out):
            assert time.monotonic() < deadline, f"dead letters so far: {out}"
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out += [DeadLetter(r.key, r.value, {k: v.decode() for k, v in r.headers})
                        for r in records]
        return out
    finally:
        await consumer.stop()


@pytest.mark.postgres
def test_scoring_is_unaffected_while_every_webhook_fails(kafka_broker, postgres_url, tmp_path):
    with socket.socket() as hanging:  # the kernel accepts connections; nobody ever answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(64)
        hang_url = f"http://127.0.0.1:{hanging.getsockname()[1]}/hook?token=s3cr3t"
        refused_url = f"http://127.0.0.1:{free_port()}/services/T0SECRET/B0SECRET/XXXX"
        worker = WorkerProcess(kafka_broker, postgres_url, tmp_path, webhook_urls=hang_url,
                               webhook_slack_urls=refused_url)
        worker.start()
        try:
            failed = "distillguard_webhook_failed_attempts_total{{cause={},webhook={}}}"
            delivered = "distillguard_webhook_deliveries_total{{outcome=delivered,webhook={}}}"
            alerts = ("distillguard_alerts_total{severity=high}",
                      "distillguard_alerts_total{severity=critical}")
            events = harvester_events("wh-harvester", 300, start_ms=BASE_TS)
            events += [e for i in range(3) for e in chat_events(f"wh-benign-{i}", 60)]
            send_events(kafka_broker, worker.input_topic, events)
            worker.wait_for(lambda m: m.get("distillguard_events_scored_total", 0) >= len(events)
                            and sum(m.get(a, 0) for a in alerts) >= 1, timeout_s=45,
                            what="every event scored and an alert raised")
            worker.wait_for(lambda m: m.get(failed.format("timeout", "json-0"), 0) >= 1
                            and m.get(failed.format("connection", "slack-0"), 0) >= 1,
                            timeout_s=30, what="failed deliveries on both webhooks")
            # events sent while both webhooks keep failing are still scored
            more = [e for i in range(3) for e in chat_events(f"wh-later-{i}", 60)]
            send_events(kafka_broker, worker.input_topic, more)
            m = worker.wait_for(
                lambda m: m.get("distillguard_events_scored_total", 0) >= len(events + more),
                timeout_s=20, what="events sent during the webhook outage scored")
            assert m["distillguard_events_scored_total"] == len(events + more)
            assert m[delivered.format("json-0")] == m[delivered.format("slack-0")] == 0
            assert m["distillguard_webhook_failing{webhook=json-0}"] == 1
            assert m["distillguard_webhook_failing{webhook=slack-0}"] == 1
            log = worker.log_tail(1000)
            assert "retrying in" in log
            assert_no_secrets(log)
        finally:
            worker.stop()


def send_events(broker: str, topic: str, events: list[dict]) -> None:
    p = kafka_producer(broker)
    for e in sorted(events, key=lambda e: e["timestamp"]):
        p.send(topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
    p.flush()
    p.close()
