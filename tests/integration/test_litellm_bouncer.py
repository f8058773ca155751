"""The bouncer through LiteLLM's proxy hook path, with decisions served by a real `distillguard api`
on PostgreSQL: a `block` and a `strip_logprobs` decision are published; the hook refuses the
blocked account's next request and strips logprobs from the other's, then throttles it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download
litellm = pytest.importorskip("litellm")

from distillguard.models.outcomes import Reason, RiskUpdate  # noqa: E402
from distillguard.models.policy import plan  # noqa: E402
from distillguard.sinks.decisions import DecisionStore  # noqa: E402
from distillguard.sinks.metrics import GatewayMetrics  # noqa: E402
from distillguard.sinks.migrate import upgrade  # noqa: E402
from distillguard.stream.api.auth import create_token  # noqa: E402
from distillguard.stream.config import Settings  # noqa: E402
from distillguard.stream.gateways.litellm_callback import DistillguardCallback  # noqa: E402
from litellm.caching.dual_cache import DualCache  # noqa: E402
from litellm.proxy._types import ProxyException, UserAPIKeyAuth  # noqa: E402

pytestmark = pytest.mark.postgres
API_PORT = 31471  # this helper's range (31400-31499)


def publish(db: str) -> None:
    """Decisions as the worker's decider writes them: critical -> block, high + logprob
    harvesting -> throttle and strip_logprobs."""
    updates = [
        RiskUpdate(account_id="acct-blocked", seq=25, risk=99.0, severity="critical",
                   reasons=[Reason("hydra_cluster", "hydra", 0.9)], event_ts=time.time()),
        RiskUpdate(account_id="acct-probe", seq=25, risk=85.0, severity="high",
                   reasons=[Reason("logprob_harvesting", "probes", 0.9)], event_ts=time.time()),
    ]
    store = DecisionStore(db)
    try:
        store.apply([(u, plan(u)) for u in updates], datetime.now(UTC))
    finally:
        store.close()


@pytest.fixture
def api(postgres_url, tmp_path):
    upgrade(postgres_url)
    engine = sa.create_engine(postgres_url)
    token = create_token(engine, "litellm-bouncer", ["decisions:read"])
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    env["DISTILLGUARD_DATABASE_URL"] = postgres_url
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "distillguard.stream.cli", "api", "--host",
                             "127.0.0.1", "--port", str(API_PORT), "--no-kafka"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{API_PORT}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((tmp_path / "api.log").read_text()) from None
            time.sleep(0.3)
    yield url, token
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def request(user: str, **params) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Classify: ok"}],
            "metadata": {"requester_ip_address": "198.51.100.7, 10.0.0.2"}, "user": "end-1",
            **params}


async def hook(callback, user: str, data: dict) -> dict:
    """What LiteLLM's ProxyLogging.pre_call_hook does for a CustomLogger callback."""
    auth = UserAPIKeyAuth(api_key=f"sk-{user}", user_id=user)
    return await callback.async_pre_call_hook(user_api_key_dict=auth, cache=DualCache(),
                                              data=data, call_type="acompletion")


def test_hook_blocks_strips_and_throttles_by_published_decisions(api, postgres_url):
    url, token = api
    publish(postgres_url)
    metrics = GatewayMetrics(CollectorRegistry())
    callback = DistillguardCallback(
        Settings(bouncer_url=url, bouncer_token=token, bouncer_throttle_per_min=3,
                 bouncer_max_tokens_cap=16), metrics=metrics, intake=False)

    async def scenario():
        with pytest.raises(ProxyException) as refused:
            await hook(callback, "acct-blocked", request("acct-blocked"))
        assert refused.value.code == "403"
        probe = request("acct-probe", logprobs=True, top_logprobs=20, max_tokens=500,
                        logit_bias={"13": -100})
        data = await hook(callback, "acct-probe", probe)
        assert not {"logprobs", "top_logprobs", "logit_bias"} & data.keys()
        assert data["max_tokens"] == 16
        # The stripped request still goes to the model as the proxy would send it.
        answer = await litellm.acompletion(**{k: v for k, v in data.items() if k != "metadata"},
                                           mock_response="Yes")
        assert getattr(answer.choices[0], "logprobs", None) is None
        unrelated = await hook(callback, "acct-other", request("acct-other", logprobs=True))
        assert unrelated["logprobs"] is True
        for _ in range(2):  # throttle: 3 a minute, one used above
            await hook(callback, "acct-probe", request("acct-probe"))
        with pytest.raises(ProxyException) as throttled:
            await hook(callback, "acct-probe", request("acct-probe"))
        assert throttled.value.code == "429" and int(throttled.value.headers["Retry-After"]) >= 1
        await callback.bouncer.close()

    asyncio.run(scenario())
    value = metrics.registry.get_sample_value
    assert value("distillguard_bouncer_actions_total", {"action": "block"}) == 1
    assert value("distillguard_bouncer_actions_total", {"action": "strip_logprobs"}) == 1
    assert value("distillguard_bouncer_actions_total", {"action": "strip_logit_bias"}) == 1
    assert value("distillguard_bouncer_actions_total", {"action": "cap_max_tokens"}) == 3  # each let through
    assert value("distillguard_bouncer_actions_total", {"action": "throttle"}) == 1
    assert value("distillguard_bouncer_polls_total", {"result": "ok"}) >= 1


def test_fail_closed_refuses_while_decisions_are_unknown():
    metrics = GatewayMetrics(CollectorRegistry())
    callback = DistillguardCallback(  # nothing listens there: the start-up poll fails
        Settings(bouncer_url=f"http://127.0.0.1:{API_PORT + 1}", bouncer_token="x",
                 bouncer_fail_closed=True), metrics=metrics, intake=False)

    async def scenario():
        callback.bouncer.start_timeout_s = 0.5
        with pytest.raises(ProxyException) as refused:
            await hook(callback, "acct-any", request("acct-any"))
        assert refused.value.code == "503"
        await callback.bouncer.close()

    asyncio.run(scenario())
    assert metrics.registry.get_sample_value("distillguard_bouncer_actions_total",
                                             {"action": "fail_closed"}) == 1
