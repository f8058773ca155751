"""Shadow (simulation) rules: their decisions are recorded in PostgreSQL with `shadow` set, and
never reach bouncers, neither through the stream API nor on the decisions topic."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import msgspec
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import HOUR, ActionRule, PolicyConfig
from distillguard.sinks.decisions import DecisionStore
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.schema import decisions
from distillguard.stream.config import Settings
from distillguard.stream.decider import Decider
from distillguard.stream.topics import ensure_topics

from tests.api.conftest import bearer

pytestmark = pytest.mark.postgres
# enforce a throttle on critical, and try out blocking (IPs too) in shadow first
TRIAL = PolicyConfig(critical=(ActionRule("throttle", 6 * HOUR),
                               ActionRule("block", 24 * HOUR, shadow=True,
                                          scopes=("account", "api_key", "ip"))))


def critical(account: str, seq: int = 25) -> RiskUpdate:
    return RiskUpdate(account_id=account, seq=seq, risk=99.0, severity="critical",
                      reasons=[Reason("logprob_harvesting", "t", 0.9)], event_ts=time.time(),
                      recent_api_keys=[f"{account}-key"], recent_source_ips=["10.9.0.1"])


def rows(url: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(decisions).order_by(decisions.c.change_seq)).all()
    finally:
        engine.dispose()


def test_shadow_decisions_are_recorded_not_streamed(client, db, clock, tokens):
    store = DecisionStore(db)
    metrics = Metrics()
    try:
        decider = Decider(Settings(database_url=db), metrics, store, TRIAL, clock=clock)
        changes = asyncio.run(decider.handle([critical("acct-s")]))
    finally:
        store.close()
    found = {(r.scope_type, r.action, r.shadow) for r in rows(db)}
    assert found == {("account", "throttle", False), ("api_key", "throttle", False),
                     ("account", "block", True), ("api_key", "block", True),
                     ("ip", "block", True)}
    assert len(changes) == 5
    body = client.get("/v1/decisions/stream", params={"startup": "true"},
                      headers=bearer(tokens["bouncer"])).json()
    assert {(d["scope"], d["type"]) for d in body["new"]} == {("account", "throttle"),
                                                               ("api_key", "throttle")}
    value = metrics.registry.get_sample_value
    assert value("distillguard_decision_changes_total",
                 {"op": "new", "action": "block", "mode": "shadow"}) == 3
    assert value("distillguard_decision_changes_total",
                 {"op": "new", "action": "throttle", "mode": "enforce"}) == 2
    # the allowlist lifts both kinds; the shadow ones stay out of the stream's `deleted` too
    r = client.put("/v1/allowlist/acct-s", json={"reason": "r", "expires_at":
                                                   "2026-12-24T00:00:00Z"},
                   headers=bearer(tokens["exceptions"]))
    assert r.status_code == 200
    body = client.get("/v1/decisions/stream", headers=bearer(tokens["bouncer"])).json()
    assert body["new"] == [] and {d["type"] for d in body["deleted"]} == {"throttle"}
    assert all(r.deleted_at is not None for r in rows(db))


@pytest.mark.kafka
def test_shadow_decisions_never_reach_the_decisions_topic(kafka_broker, db):
    tag = uuid.uuid4().hex[:8]
    settings = Settings(broker=kafka_broker, app_id=f"dg-shadow-{tag}",
                        risk_topic=f"shadow-{tag}-risk", decisions_topic=f"shadow-{tag}-dec",
                        partitions=1, database_url=db)
    ensure_topics(kafka_broker, [settings.risk_topic, settings.decisions_topic], 1)

    async def scenario() -> list[dict]:
        store = DecisionStore(db)
        task = asyncio.create_task(Decider(settings, Metrics(), store, TRIAL).run())
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker, acks="all")
        await producer.start()
        consumer = AIOKafkaConsumer(settings.decisions_topic, bootstrap_servers=kafka_broker,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            for account in ("acct-1", "acct-2"):
                await producer.send_and_wait(settings.risk_topic, key=account.encode(),
                                             value=msgspec.json.encode(critical(account)))
            out: list[dict] = []
            deadline = time.monotonic() + 60
            while len(out) < 4 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                out += [json.loads(m.value) for msgs in batch.values() for m in msgs]
            await asyncio.sleep(2)  # anything more would have arrived by now
            batch = await consumer.getmany(timeout_ms=500)
            out += [json.loads(m.value) for msgs in batch.values() for m in msgs]
            return out
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
            store.close()

    messages = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert sorted((m["account_id"], m["scope"], m["action"]) for m in messages) == [
        ("acct-1", "account", "throttle"), ("acct-1", "api_key", "throttle"),
        ("acct-2", "account", "throttle"), ("acct-2", "api_key", "throttle")]
    recorded = [r for r in rows(db) if r.shadow]
    # account + key + ip for acct-1; acct-2's shares the IP, where a shadow block is in force
    assert len(recorded) == 5 and {r.action for r in recorded} == {"block"}
