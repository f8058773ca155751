"""The decider on the real broker and PostgreSQL: risk updates in, decisions in the database
and on the decisions topic; a replay of the same updates adds nothing; allowlisted accounts
get none."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import SCOPE_TYPES, PolicyConfig
from distillguard.sinks.decisions import DecisionStore
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.schema import allowlist, decisions
from distillguard.stream.config import Settings
from distillguard.stream.decider import Decider
from distillguard.stream.topics import ensure_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def update(account: str, seq: int, severity: str, risk: float) -> RiskUpdate:
    return RiskUpdate(account_id=account, seq=seq, risk=risk, severity=severity,
                      reasons=[Reason("logprob_harvesting", "t", 0.9)], event_ts=time.time(),
                      recent_api_keys=[f"{account}-key"], recent_source_ips=["10.9.0.1"])


def rows(url: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(decisions).order_by(decisions.c.change_seq)).all()
    finally:
        engine.dispose()


async def wait_rows(url: str, predicate, timeout_s: float = 60.0) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await asyncio.to_thread(rows, url)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"decisions: {[(r.account_id, r.action) for r in found]}")
        await asyncio.sleep(0.3)


async def read_topic(broker: str, topic: str, n: int, timeout_s: float = 30.0) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                                group_id=None)
    await consumer.start()
    out: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            out += [json.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return out


def test_decider_end_to_end(kafka_broker, postgres_url):
    upgrade(postgres_url)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(broker=kafka_broker, app_id=f"dg-decider-{tag}",
                        risk_topic=f"dec-{tag}-risk", decisions_topic=f"dec-{tag}-decisions",
                        partitions=1, database_url=postgres_url)  # one partition: ordered
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(allowlist.insert().values(
            account_id="acct-allowed", reason="internal evals", created_by="test",
            expires_at=datetime.now(tz=UTC) + timedelta(days=1)))
    engine.dispose()
    ensure_topics(kafka_broker, [settings.risk_topic, settings.decisions_topic], 1)
    first = [update("acct-high", 25, "high", 85.0), update("acct-allowed", 25, "critical", 99.0),
             update("acct-low", 25, "low", 10.0)]
    escalation = [update("acct-high", 50, "critical", 97.0)]

    async def scenario() -> None:
        store = DecisionStore(postgres_url)
        # IP scope is off by default (shared NAT/egress); this test asks for it explicitly
        task = asyncio.create_task(Decider(settings, Metrics(), store,
                                           PolicyConfig(scopes=SCOPE_TYPES)).run())
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker, acks="all")
        await producer.start()
        try:
            async def send(updates):
                for u in updates:
                    await producer.send_and_wait(settings.risk_topic, key=u.account_id.encode(),
                                                 value=msgspec.json.encode(u))

            await send(first)
            await wait_rows(postgres_url, lambda r: len(r) == 6)  # throttle + strip_logprobs x3
            await send(escalation)
            found = await wait_rows(postgres_url, lambda r: sum(
                x.action == "block" for x in r) == 3)
            assert {r.account_id for r in found} == {"acct-high"}  # allowlisted: none; low: none
            live = {(r.scope_type, r.action) for r in found if r.deleted_at is None}
            assert live == {("account", "block"), ("api_key", "block"), ("ip", "block")}
            superseded = [r for r in found if r.deleted_at is not None]
            assert {r.action for r in superseded} == {"throttle", "strip_logprobs"}
            before = [(r.decision_id, r.change_seq, r.expires_at) for r in found]

            await send(first + escalation)  # a replay, then a fresh account as a marker that it was read
            await send([update("acct-marker", 25, "medium", 60.0)])
            found = await wait_rows(postgres_url, lambda r: any(
                x.account_id == "acct-marker" for x in r))
            after = [(r.decision_id, r.change_seq, r.expires_at) for r in found
                     if r.account_id != "acct-marker"]
            assert after == before

            messages = await read_topic(kafka_broker, settings.decisions_topic, 15)
            ids = {(m["op"], m["decision_id"]) for m in messages}
            assert {("new", r.decision_id) for r in found} <= ids
            assert {("deleted", r.decision_id) for r in superseded} <= ids
            m = next(m for m in messages if m["op"] == "new" and m["action"] == "block"
                     and m["scope"] == "ip")
            assert m["value"] == "10.9.0.1" and m["account_id"] == "acct-high"
            assert m["expires_at"].endswith("Z") and "logprob_harvesting" in m["reason"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await producer.stop()
            store.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))
