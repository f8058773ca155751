"""Risk updates -> enforcement decisions (the CrowdSec pattern: a detector decides, bouncers at
the gateway enforce).

Runs in the worker on its own aiokafka consumer group on the risk topic, so a slow database
delays only decisions, never scoring. Per batch: plan actions with the pure policy
(models/policy.py; allowlist from a cache refreshed every few seconds), apply them in one
transaction (idempotent: replays change nothing, escalations replace weaker decisions; the
allowlist is checked again under the write lock), announce the changes on the decisions
topic, and only then commit the consumed offsets.

Decisions topic message (JSON, key "<scope>:<value>"; at least once, upsert by decision_id):
    {"op": "new"|"deleted", "decision_id", "scope", "value", "action", "account_id", "reason",
     "risk", "created_at", "expires_at", "deleted_at", "change_seq"}
Expiry is not announced: consumers drop a decision at its `expires_at`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.models.outcomes import RiskUpdate
from distillguard.models.policy import DEFAULT_POLICY, PlannedAction, PolicyConfig, plan
from distillguard.sinks.decisions import Change, DecisionStore, aware
from distillguard.sinks.metrics import Metrics
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import aiokafka_kwargs
from distillguard.stream.topics import ensure_topics

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else aware(ts).astimezone(UTC).isoformat().replace("+00:00", "Z")


def decision_message(change: Change) -> dict:
    """The decisions-topic form of a change (also what the API sends for allowlist deletions)."""
    r = change.row
    return {"op": change.op, "decision_id": r["decision_id"], "scope": r["scope_type"],
            "value": r["scope_value"], "action": r["action"], "account_id": r["account_id"],
            "reason": r["reason"], "risk": r["risk"], "created_at": _iso(r["created_at"]),
            "expires_at": _iso(r["expires_at"]), "deleted_at": _iso(r.get("deleted_at")),
            "change_seq": r["change_seq"]}


async def publish_changes(producer: AIOKafkaProducer, topic: str, changes: list[Change]) -> None:
    sends = [await producer.send(topic, key=f"{c.row['scope_type']}:{c.row['scope_value']}".encode(),
                                 value=json.dumps(decision_message(c)).encode())
             for c in changes]
    await asyncio.gather(*sends)


class Decider:
    def __init__(self, settings: Settings, metrics: Metrics, store: DecisionStore,
                 policy: PolicyConfig = DEFAULT_POLICY, clock: Clock = utcnow,
                 allowlist_refresh_s: float = 5.0, batch_size: int = 500) -> None:
        self.settings, self.metrics, self.store = settings, metrics, store
        self.policy, self.clock = policy, clock
        self.allowlist_refresh_s, self.batch_size = allowlist_refresh_s, batch_size
        self._allowlist: dict[str, datetime] | None = None
        self._allowlist_at = 0.0
        self._decode = msgspec.json.Decoder(RiskUpdate).decode

    async def run(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, s.broker,
                                   [s.risk_topic, s.decisions_topic], s.partitions)
        consumer = AIOKafkaConsumer(s.risk_topic, bootstrap_servers=s.broker,
                                    group_id=f"{s.app_id}-decider", enable_auto_commit=False,
                                    auto_offset_reset="earliest", **aiokafka_kwargs(s))
        producer = AIOKafkaProducer(bootstrap_servers=s.broker, acks="all",
                                    enable_idempotence=True, **aiokafka_kwargs(s))
        await consumer.start()
        await producer.start()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
                updates = [u for msgs in fetched.values() for m in msgs
                           if (u := self._decoded(m)) is not None]
                if updates:
                    changes = await self.handle(updates)
                    await self._retry("publish", lambda c=changes: publish_changes(
                        producer, s.decisions_topic, c))
                if fetched:
                    await consumer.commit()
        finally:
            await consumer.stop()
            await producer.stop()

    async def handle(self, updates: list[RiskUpdate]) -> list[Change]:
        """Plan and durably apply decisions for a batch; the changes to announce."""
        allowed = await self.allowlist()
        now = self.clock()
        items: list[tuple[RiskUpdate, list[PlannedAction]]] = []
        for u in updates:
            listed = u.account_id in allowed and allowed[u.account_id] > now
            planned = plan(u, self.policy, allowlisted=listed, now=now.timestamp())
            if planned:
                items.append((u, planned))
        if not items:
            return []
        loop = asyncio.get_running_loop()
        changes = await self._retry("write", lambda: loop.run_in_executor(
            None, self.store.apply, items, now, self.policy.extend_below_fraction))
        self.metrics.sink_rows.labels(sink="decisions").inc(len(changes))
        return changes

    async def allowlist(self) -> dict[str, datetime]:
        """Cached allowlist; a failed refresh keeps the last good copy (the write re-checks)."""
        if self._allowlist is not None and \
                time.monotonic() - self._allowlist_at < self.allowlist_refresh_s:
            return self._allowlist
        loop = asyncio.get_running_loop()
        load = lambda: loop.run_in_executor(None, self.store.allowlist, self.clock())  # noqa: E731
        if self._allowlist is None:
            self._allowlist = await self._retry("allowlist", load)
        else:
            try:
                self._allowlist = await load()
            except Exception as err:
                log.warning("allowlist refresh failed (%s); using the cached copy", err)
                self.metrics.sink_failures.labels(sink="allowlist").inc()
        self._allowlist_at = time.monotonic()
        return self._allowlist

    def _decoded(self, msg) -> RiskUpdate | None:
        try:
            return self._decode(msg.value)
        except msgspec.DecodeError as err:  # not ours: say so, do not block the topic
            log.error("decider skips undecodable %s[%d]@%d: %s", msg.topic, msg.partition,
                      msg.offset, err)
            self.metrics.sink_failures.labels(sink="decisions-decode").inc()
            return None

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Until it works: a database or broker hiccup delays decisions, never drops them."""
        backoff = 0.5
        while True:
            try:
                return await attempt()
            except Exception as err:
                self.metrics.sink_failures.labels(sink=f"decisions-{what}").inc()
                log.warning("decider %s failed (%s: %s); retrying in %.1fs", what,
                            type(err).__name__, str(err).splitlines()[0] if str(err) else "",
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


async def run_decider(settings: Settings, metrics: Metrics) -> None:
    """Started by stream/services.py inside the worker; restarts itself rather than take the
    worker down (its failures must never stop scoring)."""
    store = DecisionStore(settings.database_url)
    try:
        while True:
            try:
                await Decider(settings, metrics, store).run()
            except Exception:
                log.exception("decider stopped; restarting in %.0fs", MAX_BACKOFF_S / 6)
                metrics.sink_failures.labels(sink="decisions").inc()
                await asyncio.sleep(MAX_BACKOFF_S / 6)
    finally:
        store.close()
