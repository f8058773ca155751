"""distillguard inside the LiteLLM proxy: one `CustomLogger` that is both the intake and the bouncer.

    litellm_settings:
      callbacks: distillguard.stream.gateways.litellm_callback.distillguard_callback

Intake: every success and failure's StandardLoggingPayload becomes a contract event through the
same mapping as files and topics (stream/intake/litellm.py), hashes computed here, `prompt.text`
only with DISTILLGUARD_LITELLM_INCLUDE_TEXT, and goes to Kafka through a bounded, non-blocking
buffer (stream/gateways/shipper.py). Bouncer: `async_pre_call_hook` applies the decisions for
the request's account, API key and client IP (stream/gateways/bouncer.py) before the model is
called; `async_post_call_success_hook` adds the logprob noise a decision asked for.
Configuration is the DISTILLGUARD_* environment (stream/config.py), read once at import.
"""

from __future__ import annotations

import logging
from typing import Any

from distillguard.sinks.metrics import GatewayMetrics, gateway_metrics
from distillguard.stream.config import Settings
from distillguard.stream.gateways.bouncer import Bouncer, BouncerConfig, Refusal
from distillguard.stream.gateways.shipper import EventShipper
from distillguard.stream.intake.litellm import (
    DEAD_LETTER_KEY,
    MASTER_KEY_MARKERS,
    AccountRule,
    account_for,
    first_address,
    litellm_records,
)
from distillguard.stream.kafka_security import aiokafka_kwargs
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger(__name__)
NOISE_FLAG = "distillguard_noise_logprobs"


class DistillguardCallback(CustomLogger):
    def __init__(self, settings: Settings | None = None, metrics: GatewayMetrics | None = None,
                 intake: bool = True) -> None:
        super().__init__()
        s = self.settings = settings or Settings.load()
        self.metrics = metrics or gateway_metrics()
        self.rule = AccountRule.parse(s.litellm_account_rule)
        self.shipper = EventShipper(s.broker, s.litellm_topic or s.input_topic, self.metrics,
                                    s.litellm_buffer, s.litellm_batch, s.litellm_linger_s,
                                    aiokafka_kwargs(s)) if intake else None
        self.bouncer = Bouncer(BouncerConfig(
            url=s.bouncer_url, token=s.bouncer_token, poll_s=s.bouncer_poll_s,
            fail_closed=s.bouncer_fail_closed, throttle_per_min=s.bouncer_throttle_per_min,
            max_tokens_cap=s.bouncer_max_tokens_cap, logprob_noise=s.bouncer_logprob_noise),
            self.metrics) if s.bouncer_url else None
        self._bouncer_started = False

    # ------------------------------------------------------------------ intake ---
    def _ship(self, kwargs: dict) -> None:
        slp = kwargs.get("standard_logging_object")
        if self.shipper is None or not isinstance(slp, dict):
            return
        for record in litellm_records(slp, self.rule, self.settings.litellm_include_text):
            if DEAD_LETTER_KEY in record:  # counted and logged, never silently lost
                self.metrics.events_dropped.labels("no_account").inc()
                log.warning("distillguard: request %s not sent: %s", record.get("event_id"),
                            record[DEAD_LETTER_KEY])
            else:
                self.shipper.offer(record)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._ship(kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._ship(kwargs)

    # ----------------------------------------------------------------- bouncer ---
    def scopes(self, user_api_key_dict: Any, data: dict) -> dict[str, str | None]:
        """The request's account (by the same rule as intake), API key hash and client IP."""
        user = getattr(user_api_key_dict, "user_id", None)
        token = getattr(user_api_key_dict, "token", None)
        master = user in MASTER_KEY_MARKERS or token in MASTER_KEY_MARKERS
        ids = {"org": getattr(user_api_key_dict, "org_id", None),
               "team": getattr(user_api_key_dict, "team_id", None),
               "user": None if master else user,
               "end_user": getattr(user_api_key_dict, "end_user_id", None) or data.get("user"),
               "key": None if master else token}
        meta = data.get("metadata") or data.get("litellm_metadata") or {}
        account, _ = account_for(ids, self.rule)
        return {"account": account, "api_key": token,
                "ip": first_address(meta.get("requester_ip_address"))}

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type):
        if self.bouncer is None:
            return data
        if not self._bouncer_started:
            self._bouncer_started = True
            await self.bouncer.start()
        try:
            taken = self.bouncer.enforce(self.scopes(user_api_key_dict, data), data)
        except Refusal as refusal:
            raise proxy_exception(refusal) from None
        if "noise_logprobs" in taken:
            data.setdefault("metadata", {})[NOISE_FLAG] = True
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response):
        meta = data.get("metadata") or {}
        if self.bouncer is not None and meta.get(NOISE_FLAG):
            self.bouncer.add_noise(getattr(response, "choices", None) or [])
        return response


def proxy_exception(refusal: Refusal) -> Exception:
    """The proxy answers a ProxyException with its code and headers (an HTTPException loses them)."""
    from litellm.proxy._types import ProxyException

    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
    return ProxyException(message=refusal.message, type="distillguard_decision", param=None,
                          code=refusal.status, headers=headers)


def __getattr__(name: str) -> Any:
    """`distillguard_callback` is built on first use, so importing this module reads no settings."""
    if name == "distillguard_callback":
        instance = globals()["distillguard_callback"] = DistillguardCallback()
        return instance
    raise AttributeError(name)
