"""Kafka security settings against the real broker's SASL_PLAINTEXT listener (deploy/kafka.sh with
KAFKA_SASL_PORT): topics created, events produced and scored into PostgreSQL through the SASL
port, and a wrong password failing with one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaProducer
from distillguard.stream.config import Settings
from distillguard.stream.kafka_security import (
    aiokafka_kwargs,
    faust_kwargs,
    kafka_python_kwargs,
    librdkafka_config,
)
from distillguard.stream.topics import ensure_topics

from tests.helpers import harvester_events
from tests.integration.test_kafka_e2e import wait_sql
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
USER = os.environ.get("KAFKA_SASL_USER", "dg")
PASSWORD = os.environ.get("KAFKA_SASL_PASSWORD", "dg-secret")


@pytest.fixture(scope="session")
def sasl_broker() -> str:
    value = os.environ.get("DG_TEST_KAFKA_SASL")
    if not value:
        message = "SASL listener not configured: run through deploy/test.sh (DG_TEST_KAFKA_SASL unset)"
        if os.environ.get("DG_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return value


def sasl_settings(mechanism: str, password: str = PASSWORD) -> dict[str, str]:
    return {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": USER, "kafka_sasl_password": password}


def test_one_settings_object_gives_each_client_its_arguments():
    s = Settings(**sasl_settings("SCRAM-SHA-256"))
    assert aiokafka_kwargs(s) == {"security_protocol": "SASL_PLAINTEXT", "ssl_context": None,
                                  "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": USER,
                                  "sasl_plain_password": PASSWORD}
    assert kafka_python_kwargs(s)["sasl_mechanism"] == "SCRAM-SHA-256"
    assert faust_kwargs(s)["broker_credentials"].mechanism.value == "SCRAM-SHA-256"
    assert librdkafka_config(s)["sasl.mechanism"] == "SCRAM-SHA-256"
    assert aiokafka_kwargs(Settings()) == kafka_python_kwargs(Settings()) == faust_kwargs(Settings()) == {}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_topics_created_through_the_sasl_port(sasl_broker, mechanism, monkeypatch):
    for key, value in sasl_settings(mechanism).items():
        monkeypatch.setenv(f"DISTILLGUARD_{key.upper()}", value)
    topic = f"sasl-{mechanism.lower()}-{os.getpid()}"
    assert ensure_topics(sasl_broker, [topic], 3, timeout_s=30) == {topic: 3}


def test_worker_scores_events_through_the_sasl_port(sasl_broker, postgres_url, tmp_path):
    settings = sasl_settings("SCRAM-SHA-512")
    worker = WorkerProcess(sasl_broker, postgres_url, tmp_path, **settings)
    worker.start()
    try:
        events = harvester_events("sasl-harvester", 60)

        async def produce() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=sasl_broker, acks="all",
                                        **aiokafka_kwargs(Settings(**settings)))
            await producer.start()
            try:
                for e in events:
                    await producer.send(worker.input_topic, json.dumps(e).encode(),
                                        key=e["account_id"].encode())
                await producer.flush()
            finally:
                await producer.stop()

        asyncio.run(produce())
        worker.wait_for(lambda m: m["distillguard_events_scored_total"] >= len(events),
                        what="events scored through SASL")
        rows = wait_sql(postgres_url, "SELECT account_id, risk FROM account_risk",
                        lambda r: len(r) == 1)
        assert rows[0].account_id == "sasl-harvester" and rows[0].risk > 50
    finally:
        worker.stop()


def test_wrong_password_fails_with_one_clear_line(sasl_broker, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    env.update({f"DISTILLGUARD_{k.upper()}": v
                for k, v in sasl_settings("SCRAM-SHA-256", password="not-the-pw-7").items()})
    env.update(DISTILLGUARD_BROKER=sasl_broker, DISTILLGUARD_DATA_DIR=str(tmp_path),
               DISTILLGUARD_DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite", DISTILLGUARD_METRICS_PORT="0")
    done = subprocess.run([sys.executable, "-m", "distillguard.stream.cli", "run"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith(f"Error: Kafka at {sasl_broker} refused the connection")
    assert "invalid credentials" in lines[-1] and "not-the-pw-7" not in done.stderr
