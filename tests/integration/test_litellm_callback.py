"""The LiteLLM callback with the real `litellm` package: SDK calls (mock_response, no upstream)
through the callback into the real broker, scored by a running worker, rows in PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import pytest
from prometheus_client import CollectorRegistry

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download
litellm = pytest.importorskip("litellm")

from distillguard.sinks.metrics import GatewayMetrics  # noqa: E402
from distillguard.stream.config import Settings  # noqa: E402
from distillguard.stream.gateways.litellm_callback import DistillguardCallback  # noqa: E402

from tests.integration.test_kafka_e2e import wait_sql  # noqa: E402
from tests.integration.worker_proc import WorkerProcess  # noqa: E402

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PROBES, CHATS = 80, 20


async def drive(callback: DistillguardCallback) -> None:
    litellm.callbacks = [callback]
    try:
        for i in range(PROBES):  # one-token answers with logprobs: a harvesting pattern
            await litellm.acompletion(
                model="gpt-4o-mini", user="llm-harvester", mock_response="Yes",
                messages=[{"role": "system", "content": "You are terse."},
                          {"role": "user", "content": f"Classify the sentiment of: review {i} ok"}],
                logprobs=True, top_logprobs=5, max_tokens=1, temperature=0)
        for i in range(CHATS):
            await litellm.acompletion(
                model="gpt-4o-mini", user="llm-chat", mock_response="Sure, here is a draft.",
                messages=[{"role": "user", "content": f"Write a note about topic {i} for the team"}])
        deadline = asyncio.get_running_loop().time() + 30
        while (callback.shipper.accepted < PROBES + CHATS
               and asyncio.get_running_loop().time() < deadline):
            await asyncio.sleep(0.1)  # litellm runs success callbacks in the background
        await callback.shipper.flush()
    finally:
        litellm.callbacks = []
        await callback.shipper.close()


def test_sdk_calls_through_the_callback_reach_postgres(kafka_broker, postgres_url, tmp_path):
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path)
    worker.start()
    try:
        metrics = GatewayMetrics(CollectorRegistry())
        callback = DistillguardCallback(
            Settings(broker=kafka_broker, input_topic=worker.input_topic, litellm_linger_s=0.05),
            metrics=metrics)
        asyncio.run(drive(callback))
        # >=: litellm's process-wide logging worker may hand over a call an earlier test made
        assert metrics.events_sent._value.get() >= PROBES + CHATS
        assert metrics.registry.get_sample_value("distillguard_litellm_events_dropped_total",
                                                 {"reason": "buffer_full"}) is None
        m = worker.wait_for(
            lambda m: m["distillguard_events_scored_total"] >= PROBES + CHATS,
            what="callback events scored")
        assert sum(v for k, v in m.items() if k.startswith("distillguard_events_dead_lettered_total")) == 0
        rows = wait_sql(postgres_url, "SELECT account_id, risk, reasons FROM account_risk "
                        "WHERE account_id IN ('llm-harvester', 'llm-chat')", lambda r: len(r) == 2)
        risk = {r.account_id: r.risk for r in rows}
        assert risk["llm-harvester"] > 30 > risk["llm-chat"]
    finally:
        worker.stop()
