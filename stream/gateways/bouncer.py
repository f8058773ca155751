"""The bouncer (CrowdSec's pattern): distillguard's decisions applied to requests in the gateway.

Decisions come from `GET /v1/decisions/stream` (start-up snapshot, then deltas; see
docs/secops.md), are cached in the process and enforced until their `until` even when a poll
fails. Per request, the strongest decision for its account, API key or client IP applies:

    block           -> refuse, 403
    throttle        -> at most N requests/minute for that scope, else 429 with Retry-After
    strip_logprobs  -> drop logit_bias, cap max_tokens (if set); drop logprobs/top_logprobs, or
                       keep them and add calibrated noise to the returned logprobs (if set)
    monitor         -> nothing (counted)

This module knows nothing of LiteLLM; stream/gateways/litellm_callback.py adapts it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distillguard.sinks.metrics import GatewayMetrics

log = logging.getLogger(__name__)
LOGPROB_PARAMS = ("logprobs", "top_logprobs")


class Refusal(Exception):
    """The request must not reach the model: an HTTP status, a message, maybe a Retry-After."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after_s = status, message, retry_after_s


@dataclass(frozen=True)
class Decision:
    id: str
    scope: str
    value: str
    type: str
    until: float  # epoch seconds

    @classmethod
    def of(cls, d: dict) -> Decision:
        until = datetime.fromisoformat(str(d["until"]).replace("Z", "+00:00")).timestamp()
        return cls(str(d["id"]), d["scope"], str(d["value"]), d["type"], until)


@dataclass
class DecisionCache:
    """Decisions by id, upserted from `new` and removed by `deleted`, as the stream says."""

    by_id: dict[str, Decision] = field(default_factory=dict)
    loaded_at: float | None = None  # monotonic time of the last successful poll

    def apply(self, page: dict) -> None:
        for d in page.get("new", []):
            decision = Decision.of(d)
            self.by_id[decision.id] = decision
        for d in page.get("deleted", []):
            self.by_id.pop(str(d.get("id")), None)
        self.loaded_at = time.monotonic()

    def matching(self, scopes: dict[str, str | None], now: float) -> list[Decision]:
        wanted = {(s, v) for s, v in scopes.items() if v}
        return [d for d in self.by_id.values()
                if (d.scope, d.value) in wanted and d.until > now]


class ThrottleBuckets:
    """A token bucket per throttled scope value: `per_min` requests a minute, bursts of that size."""

    def __init__(self, per_min: int) -> None:
        self.rate = max(per_min, 1) / 60.0
        self.capacity = float(max(per_min, 1))
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float:
        """0 if allowed, else seconds until the next request would be."""
        tokens, at = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > 100_000:
            self.buckets.clear()
        return (1 - tokens) / self.rate


@dataclass(frozen=True)
class BouncerConfig:
    url: str = ""
    token: str = ""
    poll_s: float = 10.0
    fail_closed: bool = False
    throttle_per_min: int = 10
    max_tokens_cap: int = 0
    logprob_noise: float = 0.0
    stale_after_s: float = 0.0  # decisions count as unknown after this long without a poll


class Bouncer:
    def __init__(self, config: BouncerConfig, metrics: GatewayMetrics,
                 rng: random.Random | None = None) -> None:
        self.config, self.metrics = config, metrics
        self.cache = DecisionCache()
        self.throttle = ThrottleBuckets(config.throttle_per_min)
        self.rng = rng or random.Random()
        self._task: asyncio.Task | None = None
        self._first_poll: asyncio.Future | None = None
        self.start_timeout_s = 5.0  # how long the first request waits for the start-up snapshot
        self.stale_after_s = config.stale_after_s or max(3 * config.poll_s, 30.0)

    # ---------------------------------------------------------------- polling ---
    async def start(self, timeout_s: float | None = None) -> None:
        """Poll the start-up snapshot (waiting up to `timeout_s`), then keep polling behind."""
        timeout_s = self.start_timeout_s if timeout_s is None else timeout_s
        if self._task is None or self._task.done():
            self._first_poll = asyncio.get_running_loop().create_future()
            self._task = asyncio.get_running_loop().create_task(self._poll_forever(),
                                                                name="dg-bouncer-poll")
        try:
            await asyncio.wait_for(asyncio.shield(self._first_poll), timeout_s)
        except TimeoutError:
            log.warning("distillguard bouncer: no decisions from %s within %.0fs",
                        self.config.url, timeout_s)

    async def poll_once(self, session, startup: bool) -> None:
        url = f"{self.config.url.rstrip('/')}/v1/decisions/stream"
        async with session.get(url, params={"startup": "true" if startup else "false"},
                               headers={"Authorization": f"Bearer {self.config.token}"}) as resp:
            resp.raise_for_status()
            self.cache.apply(await resp.json())
        self.metrics.bouncer_decisions.set(len(self.cache.by_id))

    async def _poll_forever(self) -> None:
        import aiohttp

        startup = True
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                try:
                    await self.poll_once(session, startup)
                    startup = False
                    self.metrics.bouncer_polls.labels("ok").inc()
                    if not self._first_poll.done():
                        self._first_poll.set_result(None)
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # keep enforcing what we have until it expires
                    self.metrics.bouncer_polls.labels("failed").inc()
                    log.warning("distillguard bouncer: poll of %s failed: %s", self.config.url, err)
                await asyncio.sleep(self.config.poll_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def known(self) -> bool:
        loaded = self.cache.loaded_at
        return loaded is not None and time.monotonic() - loaded <= self.stale_after_s

    # ------------------------------------------------------------ enforcement ---
    def enforce(self, scopes: dict[str, str | None], data: dict, now: float | None = None) -> set[str]:
        """Apply the decisions for `scopes` ({account, api_key, ip} -> value) to the request body
        `data` in place; raise Refusal to refuse it. Returns the actions taken."""
        now = time.time() if now is None else now
        if not self.known():
            if self.config.fail_closed:
                self._count("fail_closed")
                raise Refusal(503, "distillguard decisions unavailable (fail-closed)", 10)
            self._count("fail_open")
        decisions = self.cache.matching(scopes, now)
        types = {d.type for d in decisions}
        if "block" in types:
            self._count("block")
            raise Refusal(403, "request refused by distillguard (block decision)")
        taken: set[str] = set()
        for d in decisions:
            if d.type == "throttle":
                wait = self.throttle.take(f"{d.scope}:{d.value}", now)
                if wait > 0:
                    self._count("throttle")
                    raise Refusal(429, "rate limited by distillguard (throttle decision)",
                                  max(1, math.ceil(wait)))
                taken.add("throttle_pass")
        if "strip_logprobs" in types:
            taken |= self._strip(data)
        if "monitor" in types and not taken:
            taken.add("monitor")
        for action in taken:
            self._count(action)
        return taken

    def _strip(self, data: dict) -> set[str]:
        taken = set()
        if data.pop("logit_bias", None) is not None:
            taken.add("strip_logit_bias")
        wants_logprobs = any(data.get(k) for k in LOGPROB_PARAMS)
        if wants_logprobs and self.config.logprob_noise > 0:
            taken.add("noise_logprobs")  # keep them; the post-call hook adds the noise
        elif wants_logprobs:
            for key in LOGPROB_PARAMS:
                data.pop(key, None)
            taken.add("strip_logprobs")
        cap = self.config.max_tokens_cap
        keys = [k for k in ("max_tokens", "max_completion_tokens") if data.get(k) is not None]
        for key in keys or ["max_tokens"]:
            if cap > 0 and (data.get(key) is None or data[key] > cap):
                data[key] = cap
                taken.add("cap_max_tokens")
        return taken

    def _count(self, action: str) -> None:
        self.metrics.bouncer_actions.labels(action).inc()

    # ---------------------------------------------------------------- noise ---
    def add_noise(self, choices: list[Any]) -> int:
        """Gaussian noise (std-dev `logprob_noise`, in nats) on every returned logprob, kept <= 0,
        alternatives re-ranked: the answer text is untouched, the distribution is blurred."""
        sigma, noised = self.config.logprob_noise, 0
        for choice in choices:
            content = _get(_get(choice, "logprobs"), "content") or []
            for token in content:
                chosen = self._noisy(_get(token, "logprob"), sigma)
                _set(token, "logprob", chosen)
                alts = _get(token, "top_logprobs") or []
                for alt in alts:  # the chosen token's own entry keeps the same noisy value
                    same = _get(alt, "token") == _get(token, "token")
                    _set(alt, "logprob", chosen if same else self._noisy(_get(alt, "logprob"), sigma))
                alts.sort(key=_rank_key)
                noised += 1
        if noised:
            self._count("noise_applied")
        return noised

    def _noisy(self, value: Any, sigma: float) -> Any:
        if not isinstance(value, int | float):
            return value
        return min(0.0, value + self.rng.gauss(0.0, sigma))


def _rank_key(alt: Any) -> float:
    value = _get(alt, "logprob")
    return -value if isinstance(value, int | float) else math.inf


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _set(obj: Any, key: str, value: Any) -> None:
    if isinstance(obj, dict):
        obj[key] = value
    else:
        setattr(obj, key, value)
