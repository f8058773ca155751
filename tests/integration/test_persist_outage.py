"""PostgreSQL stopped for 6 minutes under load: scoring never stops, no risk row or alert is lost,
the persister stays in its consumer group, and the backlog lands seconds after the return.

The real server is stopped and started with deploy/postgres.sh (restarted in a `finally`), while
a producer thread keeps sending chat traffic and a new logprob harvester every 25 s, so risk
updates and alerts are raised during the outage too. Afterwards every message on the risk and
alerts topics is compared with the rows. DG_OUTAGE_S shortens the outage for a quick local run
(the default, 360 s, is longer than aiokafka's max.poll.interval of 300 s: a persister that does
not poll while it waits would be evicted from its group, which the assignment counter shows).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from tests.helpers import BASE_TS, chat_events, harvester_events
from tests.integration import worker_proc
from tests.integration.test_kafka_e2e import producer, wait_sql
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
OUTAGE_S = float(os.environ.get("DG_OUTAGE_S", "360"))
RATE = 60                 # events per second, all accounts together
HARVESTER_EVERY_S = 25.0  # a new attacker starts this often, so alerts arise during the outage
SAMPLE_S = 15.0           # how often the scored counter is checked during the outage
BACKLOG_LIMIT_S = 5.0     # the whole outage backlog must be in the tables this soon after return


def pick_port() -> int:
    """A free port in DG_TEST_PORTS ("31100-31199") when set, else any free port."""
    span = os.environ.get("DG_TEST_PORTS")
    if not span:
        return original_free_port()
    low, high = (int(p) for p in span.split("-"))
    for port in range(low, high + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port in {span}")


original_free_port = worker_proc.free_port
_handed_out: set[int] = set()


def postgres(action: str, wait: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen(["bash", str(REPO / "deploy" / "postgres.sh"), action],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"postgres.sh {action}: {err.decode()}"
    return proc


def accepting(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False


class Load:
    """Steady traffic in a thread: chat accounts throughout, a new harvester every 25 s."""

    def __init__(self, broker: str, topic: str) -> None:
        self.broker, self.topic = broker, topic
        self.chat = [iter(chat_events(f"po-chat-{i}", 2000, start_ms=BASE_TS)) for i in range(20)]
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="outage-load", daemon=True)

    def _run(self) -> None:
        p = producer(self.broker)
        started = time.monotonic()
        harvesters: list = []
        tick = 0
        while not self.stop.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= len(harvesters) * HARVESTER_EVERY_S:
                name = f"po-harvester-{len(harvesters)}"
                harvesters.append(iter(harvester_events(name, 400, start_ms=BASE_TS)))
            sources = self.chat + harvesters
            for _ in range(RATE // 10):
                e = next(sources[tick % len(sources)], None)
                tick += 1
                if e is not None:
                    p.send(self.topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
                    self.sent += 1
            p.flush()
            time.sleep(max(0.0, started + tick / RATE - time.monotonic()))
        p.flush()
        p.close()


def read_topic(broker: str, topic: str) -> list[dict]:
    """Every message now on `topic`, decoded."""
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[dict] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=500).values():
                out += [json.loads(r.value) for r in records]
        return out
    finally:
        consumer.close()


def risk_keys(messages: list[dict]) -> set[tuple[str, int]]:
    return {(m["account_id"], m["seq"]) for m in messages}


def latest_alerts(messages: list[dict]) -> dict[str, tuple[int, str]]:
    best: dict[str, tuple[int, str]] = {}
    for m in messages:
        if m["alert_id"] not in best or m["escalations"] > best[m["alert_id"]][0]:
            best[m["alert_id"]] = (m["escalations"], m["severity"])
    return best


def rows(engine: sa.Engine, query: str) -> list:
    with engine.connect() as c:
        return c.execute(sa.text(query)).all()


def delivered(engine: sa.Engine, risks: set, alerts: dict) -> bool:
    try:
        have = {(r.account_id, r.seq) for r in rows(engine, "SELECT account_id, seq FROM risk_history")}
        got = {r.alert_id: r.escalations for r in rows(engine, "SELECT alert_id, escalations FROM alerts")}
    except sa.exc.OperationalError:
        return False  # not accepting connections yet
    return risks <= have and all(got.get(a, -1) >= esc for a, (esc, _) in alerts.items())


def test_six_minute_database_outage_under_load(kafka_broker, postgres_url, tmp_path, monkeypatch):
    monkeypatch.setattr(worker_proc, "free_port", pick_port)
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path)
    risk_topic = worker.env["DISTILLGUARD_RISK_TOPIC"]
    alerts_topic = worker.env["DISTILLGUARD_ALERTS_TOPIC"]
    engine = sa.create_engine(postgres_url, pool_pre_ping=True)
    load = Load(kafka_broker, worker.input_topic)
    worker.start()
    load.thread.start()
    report: dict[str, float] = {}
    try:
        # Warm-up: rows and at least one alert in the database before it goes away.
        wait_sql(postgres_url, "SELECT count(*) AS n FROM alerts", lambda r: r[0].n >= 1,
                 timeout_s=120)
        engine.dispose()
        down_at = time.monotonic()
        postgres("stop")
        try:
            risks_before = risk_keys(read_topic(kafka_broker, risk_topic))
            alerts_before = latest_alerts(read_topic(kafka_broker, alerts_topic))
            samples = [worker.metrics()["distillguard_events_scored_total"]]
            while time.monotonic() - down_at < OUTAGE_S:
                time.sleep(min(SAMPLE_S, max(0.0, OUTAGE_S - (time.monotonic() - down_at))))
                m = worker.metrics()
                samples.append(m["distillguard_events_scored_total"])
                assert samples[-1] > samples[-2], f"scoring stalled during the outage: {samples}"
            assert m["distillguard_sink_retrying{sink=store}"] == 1, "outage not noticed"
            assert m["distillguard_sink_failures_total{sink=store}"] > 0
            # What the database must hold once it is back: everything on the topics by now.
            risks_due = risk_keys(read_topic(kafka_broker, risk_topic))
            alerts_due = latest_alerts(read_topic(kafka_broker, alerts_topic))
        finally:
            starting = postgres("start", wait=False)
        # The clock starts when the server first accepts a connection, not when the script
        # returns (it creates roles after that, and the persister may already be writing).
        while not accepting(engine):
            assert starting.poll() in (None, 0), "postgres.sh start failed"
            time.sleep(0.05)
        up_at = time.monotonic()
        report["outage_s"] = up_at - down_at
        while not delivered(engine, risks_due, alerts_due):
            assert time.monotonic() - up_at < 120, "outage backlog never delivered"
            time.sleep(0.05)
        report["backlog_delivered_s"] = time.monotonic() - up_at
        starting.communicate(timeout=120)
        report["risk_updates_during_outage"] = len(risks_due - risks_before)
        report["alerts_during_outage"] = sum(1 for a, v in alerts_due.items()
                                             if alerts_before.get(a) != v)
        report["scored_during_outage"] = samples[-1] - samples[0]
        print(f"\noutage numbers: {report}")
        assert report["backlog_delivered_s"] <= BACKLOG_LIMIT_S, report
        assert report["risk_updates_during_outage"] > 0
        if OUTAGE_S >= 120:  # several harvesters started meanwhile: their alerts waited too
            assert report["alerts_during_outage"] > 0, report

        # Let the traffic end and everything drain; then topic and tables agree exactly.
        load.stop.set()
        load.thread.join(timeout=60)
        worker.wait_for(lambda m: m["distillguard_events_consumed_total"] >= load.sent,
                        what="every event consumed", timeout_s=180)
        time.sleep(3)
        risks = read_topic(kafka_broker, risk_topic)
        alerts = latest_alerts(read_topic(kafka_broker, alerts_topic))
        assert alerts, "no alert was raised at all"
        assert any(k[0].startswith("po-harvester") for k in risk_keys(risks))
        deadline = time.monotonic() + 60
        while not delivered(engine, risk_keys(risks), alerts):
            assert time.monotonic() < deadline, "rows missing after the drain"
            time.sleep(0.5)
        history = {(r.account_id, r.seq) for r in rows(engine, "SELECT account_id, seq FROM risk_history")}
        assert history == risk_keys(risks)
        newest: dict[str, int] = defaultdict(int)
        for account, seq in history:
            newest[account] = max(newest[account], seq)
        current = {r.account_id: r.seq for r in rows(engine, "SELECT account_id, seq FROM account_risk")}
        assert current == dict(newest)
        stored = {r.alert_id: (r.escalations, r.severity)
                  for r in rows(engine, "SELECT alert_id, escalations, severity FROM alerts")}
        assert stored == alerts

        m = worker.metrics()
        # One assignment for the whole run: the persister never left its group, never restarted.
        assert m["distillguard_sink_assignments_total{sink=store}"] == 1
        assert m["distillguard_service_restarts_total{service=persist}"] == 0
        print(f"decider restarts: {m['distillguard_service_restarts_total{service=decide}']}, "
              f"alerts: {len(alerts)}, risk updates: {len(risks)}, events: {load.sent}")
    finally:
        load.stop.set()
        postgres("start")  # whatever happened, the next test has its database
        worker.stop()
        engine.dispose()
