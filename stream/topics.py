"""Topic names and creation. Admin work uses kafka-python (never on the hot path)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from distillguard.sinks.retry import retry_sync
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import (
    KafkaAuthError,
    check_credentials,
    describe_failure,
    kafka_python_kwargs,
)


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


def ensure_topics(broker: str, names: list[str], partitions: int, replication: int = 1,
                  timeout_s: float = 60.0) -> dict[str, int]:
    """Create missing topics with `partitions` partitions; return every topic's partition count."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import (
        KafkaConnectionError,
        KafkaTimeoutError,
        SaslAuthenticationFailedError,
        TopicAlreadyExistsError,
        UnsupportedSaslMechanismError,
    )

    check_credentials(broker)  # a refused login would look like a 30 s bootstrap timeout
    deadline = time.monotonic() + timeout_s
    try:
        admin = retry_sync(lambda: KafkaAdminClient(bootstrap_servers=broker.split(","),
                                                    client_id="distillguard-admin",
                                                    **kafka_python_kwargs()),
                           what=f"connecting to Kafka at {broker}", timeout_s=timeout_s,
                           retry_on=(KafkaConnectionError, KafkaTimeoutError, OSError))
    except (SaslAuthenticationFailedError, UnsupportedSaslMechanismError) as err:
        raise KafkaAuthError(describe_failure(err, broker)) from None
    except (KafkaConnectionError, KafkaTimeoutError, OSError):
        raise RuntimeError(f"no Kafka broker reachable at {broker}") from None
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
