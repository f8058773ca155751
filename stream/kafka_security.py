"""Kafka security settings (DISTILLGUARD_KAFKA_*) -> the keyword arguments of each client library.

One source of truth for every client the project runs: the Faust app, aiokafka producers and
consumers, kafka-python (topic admin, the simulator), and the LiteLLM callback. PLAINTEXT (the
default) adds nothing, so an unsecured local broker behaves exactly as before.
"""

from __future__ import annotations

import ssl
from typing import Any

from distillguard.stream.config import ConfigError, Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _checked(s: Settings) -> tuple[str, str]:
    protocol, mechanism = s.kafka_security_protocol.upper(), s.kafka_sasl_mechanism.upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"DISTILLGUARD_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol!r}; "
                          f"use one of {', '.join(PROTOCOLS)}")
    if protocol.startswith("SASL"):
        if mechanism not in MECHANISMS:
            raise ConfigError(f"DISTILLGUARD_KAFKA_SASL_MECHANISM={s.kafka_sasl_mechanism!r}; "
                              f"use one of {', '.join(MECHANISMS)}")
        if not s.kafka_sasl_username:
            raise ConfigError(f"{protocol} needs DISTILLGUARD_KAFKA_SASL_USERNAME and _PASSWORD")
    return protocol, mechanism


def _settings(s: Settings | None) -> Settings:
    return s if s is not None else Settings.load()


def ssl_context(s: Settings | None = None) -> ssl.SSLContext | None:
    """The TLS context for SSL / SASL_SSL (system CAs unless DISTILLGUARD_KAFKA_SSL_CAFILE)."""
    s = _settings(s)
    protocol, _ = _checked(s)
    if not protocol.endswith("SSL"):
        return None
    context = ssl.create_default_context(cafile=s.kafka_ssl_cafile or None)
    context.check_hostname = s.kafka_ssl_check_hostname
    if s.kafka_ssl_certfile:
        context.load_cert_chain(s.kafka_ssl_certfile, s.kafka_ssl_keyfile or None,
                                s.kafka_ssl_password or None)
    return context


def aiokafka_kwargs(s: Settings | None = None) -> dict[str, Any]:
    """For AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
    s = _settings(s)
    protocol, mechanism = _checked(s)
    if protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": protocol, "ssl_context": ssl_context(s)}
    if protocol.startswith("SASL"):
        out.update(sasl_mechanism=mechanism, sasl_plain_username=s.kafka_sasl_username,
                   sasl_plain_password=s.kafka_sasl_password)
    return out


def kafka_python_kwargs(s: Settings | None = None) -> dict[str, Any]:
    """For kafka-python's KafkaAdminClient / KafkaProducer."""
    s = _settings(s)
    protocol, mechanism = _checked(s)
    if protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        out["ssl_context"] = ssl_context(s)
    if protocol.startswith("SASL"):
        out.update(sasl_mechanism=mechanism, sasl_plain_username=s.kafka_sasl_username,
                   sasl_plain_password=s.kafka_sasl_password)
    return out


def faust_kwargs(s: Settings | None = None) -> dict[str, Any]:
    """For faust.App: `broker_credentials` (Faust passes them to its consumer, producer, admin)."""
    import faust

    s = _settings(s)
    protocol, mechanism = _checked(s)
    if protocol == "PLAINTEXT":
        return {}
    if protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(ssl_context(s))}
    return {"broker_credentials": faust.SASLCredentials(
        username=s.kafka_sasl_username, password=s.kafka_sasl_password, mechanism=mechanism,
        ssl_context=ssl_context(s))}


def librdkafka_config(s: Settings | None = None) -> dict[str, str]:
    """The same settings in librdkafka's names (confluent-kafka producers, see connect-litellm.md)."""
    s = _settings(s)
    protocol, mechanism = _checked(s)
    out = {"security.protocol": protocol.lower()}
    if protocol.startswith("SASL"):
        out.update({"sasl.mechanism": mechanism, "sasl.username": s.kafka_sasl_username,
                    "sasl.password": s.kafka_sasl_password})
    if protocol.endswith("SSL") and s.kafka_ssl_cafile:
        out["ssl.ca.location"] = s.kafka_ssl_cafile
    return out


def describe_failure(err: BaseException, broker: str, s: Settings | None = None) -> str:
    """One line for an authentication/connection failure, naming what to check."""
    s = _settings(s)
    text = f"{type(err).__name__}: {err}".strip().splitlines()[0][:200]
    who = (f"{s.kafka_security_protocol} {s.kafka_sasl_mechanism} user {s.kafka_sasl_username!r}"
           if s.kafka_security_protocol.upper().startswith("SASL") else s.kafka_security_protocol)
    return (f"Kafka at {broker} refused the connection ({who}): {text}; check "
            "DISTILLGUARD_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD")


class KafkaAuthError(RuntimeError):
    """The broker refused our credentials: retrying will not help."""


def check_credentials(broker: str, s: Settings | None = None, timeout_s: float = 10.0) -> None:
    """Raise KafkaAuthError (one line) if the first broker refuses the SASL credentials.

    kafka-python and aiokafka's clients report a refused login only as "unable to bootstrap", so
    callers run this on a connection failure to tell a wrong password from a broker that is down."""
    import asyncio
    import concurrent.futures

    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    s = _settings(s)
    kwargs = aiokafka_kwargs(s)
    if not kwargs.get("sasl_mechanism"):
        return
    host, _, port = broker.split(",")[0].strip().rpartition(":")

    async def probe() -> None:
        conn = await asyncio.wait_for(create_conn(host, int(port), **kwargs), timeout_s)
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # safe inside or outside an event loop
        try:
            pool.submit(asyncio.run, probe()).result()
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as err:
            raise KafkaAuthError(describe_failure(err, broker, s)) from None
        except Exception:
            return
