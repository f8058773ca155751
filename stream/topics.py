"""Topic names and creation. Admin work uses kafka-python (never on the hot path)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from distillguard.stream.config import Settings


@dataclass(frozen=True)
class TopicNames:
    input: str
    dead_letters: str
    by_account: str   # internal: events whose producer did not key them by account_id
    risk: str
    alerts: str
    feedback: str     # analyst labels, keyed by account_id like the input

    @classmethod
    def of(cls, s: Settings) -> TopicNames:
        return cls(input=s.input_topic, dead_letters=f"{s.input_topic}.dlq",
                   by_account=f"{s.app_id}-events-by-account", risk=s.risk_topic,
                   alerts=s.alerts_topic, feedback=s.feedback_topic)

    def all(self) -> list[str]:
        """Every topic the worker reads or writes (internal changelogs are Faust's)."""
        return [self.input, self.dead_letters, self.by_account, self.risk, self.alerts,
                self.feedback]


def ensure_topics(broker: str, names: list[str], partitions: int, replication: int = 1,
                  timeout_s: float = 60.0) -> dict[str, int]:
    """Create missing topics with `partitions` partitions; return every topic's partition count."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=broker.split(","), client_id="distillguard-admin")
            break
        except (KafkaConnectionError, KafkaTimeoutError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Kafka broker reachable at {broker}") from None
            time.sleep(1.0)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics([NewTopic(n, partitions, replication) for n in missing])
        counts: dict[str, int] = {}
        while len(counts) < len(names):
            for meta in admin.describe_topics(names):
                if meta.get("partitions"):
                    counts[meta["name"]] = len(meta["partitions"])
            if len(counts) < len(names):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topics not ready: {set(names) - set(counts)}")
                time.sleep(0.5)
        return counts
    finally:
        admin.close()
