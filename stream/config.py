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
    # safe enforcement, feedback and API hardening (issue 10, items 5-7)
    policy_file: str = ""                       # YAML/JSON enforcement policy; "" = defaults
    allowlist_max_days: float = 90.0            # longest allowlist entry the API accepts
    feedback_min_labels: int = 20               # accounts labelled on a reason before it is
                                                # reweighted for everyone
    api_database_url: str = ""                  # the API's (least-privilege) URL; "" = database_url
    api_max_body_bytes: int = 65536             # larger request bodies get 413
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
