"""Topic names and creation. Admin work uses kafka-python (never on the hot path)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

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
    group_links: str     # internal: member summaries, keyed by link key (the group stage's input)
    group_verdicts: str  # internal: group verdicts, keyed by account_id like the input
    learn: str           # internal, one partition: what each batch learned (the learner's input)
    learned: str         # internal, one partition, compacted: the learned state every worker reads

    @classmethod
    def of(cls, s: Settings) -> TopicNames:
        return cls(input=s.input_topic, dead_letters=f"{s.input_topic}.dlq",
                   by_account=f"{s.app_id}-events-by-account", risk=s.risk_topic,
                   alerts=s.alerts_topic, feedback=s.feedback_topic,
                   group_links=f"{s.app_id}-group-links",
                   group_verdicts=f"{s.app_id}-group-verdicts", learn=f"{s.app_id}-learn",
                   learned=f"{s.app_id}-learned-state")

    def all(self) -> list[str]:
        """Every topic of `partitions` partitions the worker reads or writes (internal
        changelogs are Faust's)."""
        return [self.input, self.dead_letters, self.by_account, self.risk, self.alerts,
                self.feedback, self.group_links, self.group_verdicts]

    def single(self) -> dict[str, dict[str, str]]:
        """The one-partition topics, with their configs: the learner's input and its state."""
        return {self.learn: {}, self.learned: {"cleanup.policy": "compact"}}


class BrokerUnavailable(RuntimeError):
    """No Kafka broker answered within the bootstrap timeout; the message says what to check."""


@contextlib.contextmanager
def _quiet_kafka_logs() -> Iterator[None]:
    """kafka-python logs every failed connection attempt; one clear error says it better."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def admin_client(broker: str, timeout_s: float = 30.0):
    """A connected KafkaAdminClient, or BrokerUnavailable after at most `timeout_s`."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import (
        KafkaConnectionError,
        KafkaTimeoutError,
        SaslAuthenticationFailedError,
        UnsupportedSaslMechanismError,
    )

    try:  # a refused login would look like a bootstrap timeout: tell it apart first
        check_credentials(broker)
    except KafkaAuthError:
        raise
    except Exception:  # unreachable or slow: the admin client below reports that itself
        pass
    with _quiet_kafka_logs():
        try:
            return KafkaAdminClient(bootstrap_servers=broker.split(","),
                                    client_id="distillguard-admin",
                                    bootstrap_timeout_ms=max(1, int(timeout_s * 1000)),
                                    **kafka_python_kwargs())
        except (SaslAuthenticationFailedError, UnsupportedSaslMechanismError) as err:
            raise KafkaAuthError(describe_failure(err, broker)) from None
        except (KafkaConnectionError, KafkaTimeoutError, OSError):
            raise BrokerUnavailable(
                f"no Kafka broker answered at {broker} within {timeout_s:g} s: is Kafka running "
                "there? (set --broker or DISTILLGUARD_BROKER; the wait is "
                "DISTILLGUARD_KAFKA_BOOTSTRAP_TIMEOUT_S)") from None


def wait_for_broker(broker: str, timeout_s: float) -> None:
    """Return once a broker answers; BrokerUnavailable after `timeout_s`."""
    admin_client(broker, timeout_s).close()


def ensure_topics(broker: str, names: list[str], partitions: int, replication: int = 1,
                  timeout_s: float = 60.0, single: dict[str, dict[str, str]] | None = None,
                  ) -> dict[str, int]:
    """Create missing topics with `partitions` partitions (and the `single` ones with one
    partition and their configs); return every topic's partition count."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    single = single or {}
    names = [*names, *single]
    deadline = time.monotonic() + timeout_s
    admin = admin_client(broker, timeout_s)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            new = [NewTopic(n, 1, replication, topic_configs=single[n]) if n in single
                   else NewTopic(n, partitions, replication) for n in missing]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics(new)
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
