"""One frozen settings object for the runtime: defaults < DISTILLGUARD_* variables < CLI flags.

Unknown DISTILLGUARD_* variables are rejected with the name, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

PREFIX = "DISTILLGUARD_"
# Read by the deploy scripts, not by the Python runtime; accepted so they are not "unknown".
SCRIPT_ONLY = {"RUN_DIR", "CACHE"}


class ConfigError(ValueError):
    """A setting is unknown or has a value of the wrong type."""


@dataclass(frozen=True)
class Settings:
    broker: str = "127.0.0.1:9092"              # Kafka bootstrap servers, comma-separated
    app_id: str = "distillguard"                # Kafka consumer group and Faust app id
    input_topic: str = "api-access-logs"
    risk_topic: str = "account-risk"
    alerts_topic: str = "alerts"
    partitions: int = 4                         # partitions for topics the worker creates
    replication_factor: int = 1                 # of topics the worker creates (3 in production)
    database_url: str = "sqlite:///distillguard.sqlite"
    metrics_port: int = 9464                    # Prometheus /metrics of the worker; 0 = off
    metrics_host: str = "127.0.0.1"             # 0.0.0.0 inside a container
    web_port: int = 6066                        # Faust's own web server
    data_dir: str = "/tmp/distillguard/worker"  # Faust local state
    score_every: int = 25                       # score an account every N events...
    score_interval_s: float = 3600.0             # ...or after this much event time
    sink_batch: int = 500                       # rows per PostgreSQL write
    sink_flush_s: float = 1.0                   # longest wait before a partial batch is written
    sink_enabled: bool = True                   # run the PostgreSQL sink agent in the worker
    log_level: str = "info"
    # operations (issue 4): decisions, feedback, webhooks, the risk API
    decisions_topic: str = "decisions"
    feedback_topic: str = "feedback"            # analyst labels, consumed by the worker
    decisions_enabled: bool = True              # run the decider (risk -> enforcement decisions)
    webhook_urls: str = ""                      # comma-separated; generic JSON body
    webhook_slack_urls: str = ""                # comma-separated; Slack-compatible body
    webhook_timeout_s: float = 10.0             # per delivery attempt
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # streaming state (issue 7): checkpointed batches of the per-account stage
    batch_max: int = 5000                       # events per batch (one flush + ack each)
    batch_within_s: float = 0.25                # longest wait to fill a batch
    dedup_window_s: float = 172800.0            # event ids remembered this long (event time)
    profile_idle_s: float = 30 * 86400.0        # expire profiles idle this long (event time); 0 = never
    rocksdb_cache_mb: int = 64                  # RocksDB block cache per table partition
    commit_interval_s: float = 1.0              # how often acked input offsets are committed
    lag_interval_s: float = 5.0                 # how often the consumer-lag gauge is measured

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX):].lower()
            if key[len(PREFIX):] in SCRIPT_ONLY:
                continue
            if name not in known:
                raise ConfigError(f"unknown setting {key}; known: "
                                  + ", ".join(PREFIX + n.upper() for n in known))
            values[name] = _coerce(key, raw, known[name].type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return dataclasses.replace(cls(), **values)


def _coerce(key: str, raw: str, type_name: Any) -> Any:
    type_name = getattr(type_name, "__name__", type_name)
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a valid {type_name}") from None
    return raw
