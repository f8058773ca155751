"""Risk updates -> enforcement decisions (the CrowdSec pattern: a detector decides, bouncers at
the gateway enforce).

Runs in the worker on its own aiokafka consumer group on the risk topic, so a slow database
delays only decisions, never scoring. Per batch: plan actions with the pure policy
(models/policy.py, from DISTILLGUARD_POLICY_FILE or the defaults; allowlist from a cache
refreshed every few seconds), apply them in one transaction (idempotent: replays change
nothing, escalations replace weaker decisions; the allowlist is checked again under the write
lock), announce the enforced changes on the decisions topic (shadow ones are only recorded),
and only then commit the consumed offsets.

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
from pathlib import Path
from typing import TypeVar

import msgspec
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from distillguard.models.outcomes import RiskUpdate
from distillguard.models.policy import DEFAULT_POLICY, PlannedAction, PolicyConfig, plan
from distillguard.models.policy_file import PolicyError, policy_from_dict
from distillguard.sinks.decisions import Change, DecisionStore, aware
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.retry import DATABASE, Wait, paused_polling, retry
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import aiokafka_kwargs
from distillguard.stream.topics import ensure_topics

log = logging.getLogger(__name__)
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


def enforced(changes: list[Change]) -> list[Change]:
    """What bouncers may see: shadow (simulated) decisions are recorded, never announced."""
    return [c for c in changes if not c.row.get("shadow")]


async def publish_changes(producer: AIOKafkaProducer, topic: str, changes: list[Change]) -> None:
    sends = [await producer.send(topic, key=f"{c.row['scope_type']}:{c.row['scope_value']}".encode(),
                                 value=json.dumps(decision_message(c)).encode())
             for c in enforced(changes)]
    await asyncio.gather(*sends)


def load_policy(path: str) -> PolicyConfig:
    """The policy in a YAML or JSON file (DISTILLGUARD_POLICY_FILE); "" = the defaults.
    Raises PolicyError naming the file and the bad key."""
    if not path:
        return DEFAULT_POLICY
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyError(f"policy file {path}: cannot read it ({err.strerror or err})") from None
    try:
        doc = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PolicyError(f"policy file {path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}"
                          f" ({first})") from None
    try:
        return policy_from_dict({} if doc is None else doc)
    except PolicyError as err:
        raise PolicyError(f"policy file {path}: {err}") from None


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
        self._wait: Wait = asyncio.sleep   # run() polls its consumer while waiting

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
        self._wait = paused_polling(consumer)
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
        for c in changes:
            self.metrics.decision_changes.labels(
                op=c.op, action=c.row["action"],
                mode="shadow" if c.row.get("shadow") else "enforce").inc()
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
        """Until it works: a database or broker hiccup delays decisions, never drops them. The
        consumer keeps polling meanwhile (paused), so an outage does not evict it from its group."""
        def failed(err: BaseException, failures: int) -> None:
            self.metrics.sink_failures.labels(sink=f"decisions-{what}").inc()

        return await retry(attempt, what=f"decider {what}", backoff=DATABASE, wait=self._wait,
                           on_failure=failed, logger=log)


async def run_decider(settings: Settings, metrics: Metrics) -> None:
    """One run of the decider; stream/services.py restarts it when it fails (its failures must
    never stop scoring)."""
    policy = load_policy(settings.policy_file)  # validated by `distillguard run` already
    store = DecisionStore(settings.database_url)
    try:
        await Decider(settings, metrics, store, policy).run()
    finally:
        store.close()
