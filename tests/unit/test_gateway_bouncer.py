"""Bouncer and shipper logic without services: decisions cache semantics, noise, bounded buffer."""

from __future__ import annotations

import asyncio
import random

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
