"""Bouncer and shipper logic without services: decisions cache semantics, noise, bounded buffer."""

from __future__ import annotations

import asyncio
import random

import pytest
from distillguard.sinks.metrics import GatewayMetrics
from distillguard.stream.gateways.bouncer import Bouncer, BouncerConfig, DecisionCache
from distillguard.stream.gateways.shipper import EventShipper
from prometheus_client import CollectorRegistry


def decision(id_, scope, value, type_, until="2099-01-01T00:00:00Z"):
    return {"id": id_, "scope": scope, "value": value, "type": type_, "until": until}


def test_cache_upserts_new_removes_deleted_and_ignores_expired():
    cache = DecisionCache()
    cache.apply({"new": [decision("a", "account", "x", "block"),
                         decision("b", "ip", "203.0.113.9", "throttle", "2000-01-01T00:00:00Z")],
                 "deleted": []})
    assert [d.id for d in cache.matching({"account": "x", "ip": "203.0.113.9"}, now=1.9e9)] == ["a"]
    cache.apply({"new": [], "deleted": [decision("a", "account", "x", "block")]})
    assert cache.matching({"account": "x"}, now=1.9e9) == []


def test_noise_keeps_logprobs_and_blurs_them():
    metrics = GatewayMetrics(CollectorRegistry())
    bouncer = Bouncer(BouncerConfig(logprob_noise=0.5), metrics, rng=random.Random(1))
    bouncer.cache.apply({"new": [decision("s", "account", "x", "strip_logprobs")], "deleted": []})
    data = {"logprobs": True, "top_logprobs": 5, "logit_bias": {"1": 3}}
    assert bouncer.enforce({"account": "x"}, data) >= {"noise_logprobs", "strip_logit_bias"}
    assert data == {"logprobs": True, "top_logprobs": 5}
    alts = [{"token": t, "logprob": lp} for t, lp in (("a", -0.01), ("b", -1.0), ("c", -2.0))]
    choices = [{"logprobs": {"content": [{"token": "a", "logprob": -0.01, "top_logprobs": alts}]}}]
    assert bouncer.add_noise(choices) == 1
    values = [a["logprob"] for a in alts]
    assert values != [-0.01, -1.0, -2.0] and all(v <= 0 for v in values)
    assert values == sorted(values, reverse=True)


def test_full_buffer_drops_and_counts_without_waiting():
    metrics = GatewayMetrics(CollectorRegistry())

    async def scenario():
        shipper = EventShipper("127.0.0.1:1", "t", metrics, buffer=3, kafka_kwargs={})
        results = [shipper.offer({"account_id": "a", "event_id": str(i)}) for i in range(5)]
        await shipper.close()
        return results

    assert asyncio.run(scenario()) == [True, True, True, False, False]
    assert metrics.registry.get_sample_value("distillguard_litellm_events_dropped_total",
                                             {"reason": "buffer_full"}) == 2


def test_post_call_hook_noises_a_real_litellm_response(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    from distillguard.stream.config import Settings
    from distillguard.stream.gateways.litellm_callback import NOISE_FLAG, DistillguardCallback
    from litellm.types.utils import ChatCompletionTokenLogprob, ChoiceLogprobs, TopLogprob

    alts = [TopLogprob(token="Yes", logprob=-0.01, bytes=None),
            TopLogprob(token="No", logprob=-2.0, bytes=None)]
    token = ChatCompletionTokenLogprob(token="Yes", logprob=-0.01, bytes=None, top_logprobs=alts)
    response = litellm.ModelResponse(choices=[litellm.Choices(
        message=litellm.Message(content="Yes"), logprobs=ChoiceLogprobs(content=[token]))])
    callback = DistillguardCallback(Settings(bouncer_url="http://127.0.0.1:9",
                                             bouncer_logprob_noise=0.7),
                                    metrics=GatewayMetrics(CollectorRegistry()), intake=False)
    callback.bouncer.rng = random.Random(3)
    asyncio.run(callback.async_post_call_success_hook({"metadata": {NOISE_FLAG: True}}, None,
                                                      response))
    [out] = response.choices[0].logprobs.content
    values = {alt.token: alt.logprob for alt in out.top_logprobs}
    assert values["Yes"] == out.logprob and values["No"] != -2.0
    assert all(v <= 0 for v in values.values())
    assert asyncio.run(callback.async_post_call_success_hook({}, None, "unchanged")) == "unchanged"
