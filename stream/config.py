"""One frozen settings object for the runtime: defaults < DISTILLGUARD_* variables < CLI flags.

Unknown DISTILLGUARD_* variables are rejected with the name, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
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
    # safe enforcement, feedback and API hardening (issue 10, items 5-7)
    policy_file: str = ""                       # YAML/JSON enforcement policy; "" = defaults
    allowlist_max_days: float = 90.0            # longest allowlist entry the API accepts
    feedback_min_labels: int = 20               # accounts labelled on a reason before it is
                                                # reweighted for everyone
    api_database_url: str = ""                  # the API's (least-privilege) URL; "" = database_url
    api_max_body_bytes: int = 65536             # larger request bodies get 413
    # hardening (issue 10): every wait on another service is bounded
    database_connect_timeout_s: float = 10.0    # connecting (TCP, TLS, login) to PostgreSQL
    database_statement_timeout_s: float = 60.0  # one SQL statement, migrations included
    kafka_bootstrap_timeout_s: float = 30.0     # first contact with the Kafka broker
    # intake formats and the OTLP/HTTP receiver (issue 9, stream/intake/formats.py, stream/ingest/)
    input_format: str = "contract"              # contract|otlp-json|otlp-proto|zipkin-json|litellm|auto
    extra_inputs: str = ""                      # more input topics: "topic=format,topic=format"
    account_attributes: str = ""                # span/resource attributes naming the account, comma-
                                                # separated, first present wins; "" = the defaults
    ingest_host: str = "127.0.0.1"              # `distillguard ingest` (OTLP/HTTP receiver)
    ingest_port: int = 4318                     # OTLP/HTTP's registered port
    ingest_max_pending: int = 10_000            # events sent to Kafka, not yet acknowledged: beyond, 503
    ingest_max_body_bytes: int = 16 * 1024 * 1024
    # gateways (issue 9): Kafka client security, LiteLLM intake/callback/bouncer
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str = "PLAIN"         # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""                  # CA bundle that signed the brokers' certificates
    kafka_ssl_certfile: str = ""                # client certificate (mutual TLS)
    kafka_ssl_keyfile: str = ""
    kafka_ssl_password: str = ""                # of the key file
    kafka_ssl_check_hostname: bool = True
    litellm_account_rule: str = "org,team,user,end_user"  # first present wins; see connect-litellm.md
    litellm_include_text: bool = False          # send prompt.text from the callback (privacy: off)
    litellm_topic: str = ""                     # callback's topic; empty = input_topic
    litellm_buffer: int = 10000                 # callback's bounded buffer (events); overflow dropped
    litellm_batch: int = 200                    # events per produce batch
    litellm_linger_s: float = 0.2               # longest wait before a partial batch is sent
    bouncer_url: str = ""                       # distillguard API base URL for the bouncer
    bouncer_token: str = ""                     # a decisions:read token
    bouncer_poll_s: float = 10.0
    bouncer_fail_closed: bool = False           # refuse requests while decisions are unknown
    bouncer_throttle_per_min: int = 10          # requests/minute a throttled scope keeps
    bouncer_max_tokens_cap: int = 0             # cap max_tokens under strip_logprobs; 0 = no cap
    bouncer_logprob_noise: float = 0.0          # std-dev of noise on returned logprobs; 0 = off
    # streaming state (issue 7): checkpointed batches of the per-account stage
    batch_max: int = 5000                       # events per batch (one flush + ack each)
    batch_within_s: float = 0.05                # longest wait to fill a batch
    dedup_window_s: float = 172800.0            # event ids remembered this long (event time)
    profile_idle_s: float = 30 * 86400.0        # expire profiles idle this long (event time); 0 = never
    rocksdb_cache_mb: int = 64                  # RocksDB block cache per table partition
    commit_interval_s: float = 1.0              # how often acked input offsets are committed
    lag_interval_s: float = 1.0                 # how often the consumer-lag gauge is measured
    standby_replicas: int = 0                   # other workers' tables kept warm (faster take-
                                                # over; each costs a worker the CPU of applying
                                                # another's changelogs)

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
        settings = dataclasses.replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError naming the setting (variable and flag) whose value cannot work."""
        for name, (ok, expected) in _RULES.items():
            value = getattr(self, name)
            if not ok(value):
                flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
                raise ConfigError(f"{PREFIX}{name.upper()} / {flag} must be "
                                  f"{expected}, not {value!r}")


_FLAGS = {"api_database_url": "`distillguard api --database-url`"}  # flags not named after the setting
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S*$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s,:\[\]]+):\d{1,5}$")
_LOG_LEVELS = {"critical", "error", "warning", "info", "debug"}


def _port(allow_zero: bool) -> tuple[Callable[[Any], bool], str]:
    low = 0 if allow_zero else 1
    return (lambda v: low <= v <= 65535), f"a port number {low}-65535"


def _positive(v: float) -> bool:
    return v > 0


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "broker": (lambda v: all(_HOST_PORT.match(b.strip()) for b in v.split(",")),
               "host:port[,host:port...]"),
    "partitions": (lambda v: 1 <= v <= 10_000, "between 1 and 10000"),
    "replication_factor": (lambda v: v >= 1, "at least 1"),
    "database_url": (lambda v: bool(_URL.match(v)),
                     "a database URL such as postgresql+psycopg2://user:password@host:5432/db "
                     "or sqlite:///file.sqlite"),
    "api_database_url": (lambda v: v == "" or bool(_URL.match(v)),
                         "empty (the main database URL) or a database URL such as "
                         "postgresql+psycopg2://distillguard_api:password@host:5432/db"),
    "metrics_port": _port(allow_zero=True),
    "web_port": _port(allow_zero=False),
    "api_port": _port(allow_zero=False),
    "score_every": (lambda v: v >= 1, "at least 1"),
    "score_interval_s": (_positive, "a positive number of seconds"),
    "sink_batch": (lambda v: v >= 1, "at least 1"),
    "sink_flush_s": (_positive, "a positive number of seconds"),
    "webhook_timeout_s": (_positive, "a positive number of seconds"),
    "log_level": (lambda v: v.lower() in _LOG_LEVELS, "one of " + ", ".join(sorted(_LOG_LEVELS))),
    "database_connect_timeout_s": (lambda v: v >= 1, "at least 1 (seconds; libpq counts whole seconds)"),
    "database_statement_timeout_s": (_positive, "a positive number of seconds"),
    "kafka_bootstrap_timeout_s": (_positive, "a positive number of seconds"),
}


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
