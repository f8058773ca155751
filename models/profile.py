"""Per-account behaviour profile: running statistics and sketches of everything an account sends.

State is fixed-size: counters, decayed rates, Welford moments, HyperLogLog registers, a 24-bin
hour histogram, and a ring of recent simhashes for near-duplicate detection. Nothing grows with
the number of events. De-duplication of event ids lives outside the profile
(models/seen_events.py), so the record rewritten on every flush stays small; it is encoded as
a msgpack array (field order, no names), so fields are only ever appended.
"""

from __future__ import annotations

import math

import msgspec
from distillguard.models import sketches
from distillguard.models.event import Event
from distillguard.models.simhash import prompt_sha256, simhash64
from distillguard.models.text_signals import instruction_view, reasoning_language

SIMHASH_SLOTS = 16         # recent prompt simhashes compared against each new one
NEAR_DUP_BITS = 3          # Hamming distance for "the same prompt, lightly edited"
TEMPLATE_BITS = 12         # Hamming distance for "the same template, another filler"
RATE_HALF_LIFE_S = 600.0   # request-rate memory: 10 minutes of event time
RECENT_SCOPES = 5          # api keys / source IPs remembered for enforcement decisions
EXAMPLES = 5               # example event ids kept as alert evidence
RECENT_ALPHA = 1 / 64      # recent-window features: exponential weight of ~64 requests
BASELINE_EVENTS = 50       # the recent window at this many requests is the account's baseline
# Indices of AccountProfile.recent (exponentially weighted over the last ~64 requests):
R_SHAPED, R_REASONING, R_TINY_LOGPROB, R_SINGLE_TURN, R_LOG_OUTPUT, R_LOG_RATIO = range(6)
SHAPED_MIN_OUTPUT = 600    # "extraction-shaped": a single-turn request whose answer is long...
SHAPED_MIN_RATIO = 4.0     # ...and several times longer than the prompt


def extraction_shaped(event: Event) -> bool:
    """One request that looks like harvesting a long answer: single turn, short prompt, long
    output. Ordinary chat has it rarely; distillation sweeps almost always."""
    out = event.output_tokens or 0
    if out < SHAPED_MIN_OUTPUT or out < SHAPED_MIN_RATIO * max(event.input_tokens or 0, 1):
        return False
    messages = event.prompt.messages if event.prompt is not None else None
    return messages is None or messages <= 1


def _remember(recent: list[str], value: str, keep: int = RECENT_SCOPES) -> None:
    """Most-recent-first list of distinct values, at most `keep` long."""
    if recent and recent[0] == value:
        return
    if value in recent:
        recent.remove(value)
    recent.insert(0, value)
    del recent[keep:]


def _prefix(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) a client address belongs to: proxy pools share these."""
    if ":" in ip:
        return ":".join(ip.split(":")[:3]) + "::/48"
    return ip.rsplit(".", 1)[0] + ".0/24"


class Moments(msgspec.Struct, array_like=True):
    """Welford running mean and variance."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


class AccountProfile(msgspec.Struct, array_like=True):
    account_id: str
    events: int = 0
    duplicates: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    created_ts: float | None = None
    # volume
    rate_mass: float = 0.0               # decayed request count, half-life RATE_HALF_LIFE_S
    input_tokens: int = 0
    output_tokens: int = 0
    gaps: Moments = msgspec.field(default_factory=Moments)        # log inter-arrival seconds
    output_len: Moments = msgspec.field(default_factory=Moments)  # output tokens per request
    prompt_chars: Moments = msgspec.field(default_factory=Moments)
    hours: list[int] = msgspec.field(default_factory=lambda: [0] * 24)
    # parameters
    logprobs: int = 0
    tiny_max_tokens_logprobs: int = 0    # max_tokens 1-5 together with logprobs
    logit_bias: int = 0
    temperature_zero: int = 0
    seeded: int = 0
    # prompts
    with_prompt_hash: int = 0
    with_text: int = 0
    reasoning_asks: int = 0
    near_duplicates: int = 0
    templated: int = 0
    distinct_prompts: bytearray = msgspec.field(default_factory=sketches.hll_new)
    distinct_systems: bytearray = msgspec.field(default_factory=sketches.hll_new)
    recent_simhashes: list[int] = msgspec.field(default_factory=list)
    recent_api_keys: list[str] = msgspec.field(default_factory=list)    # last RECENT_SCOPES
    recent_source_ips: list[str] = msgspec.field(default_factory=list)  # distinct values
    # shape, recent window and drift
    shaped_requests: int = 0
    new_model_events: int = 0
    reasoning_languages: int = 0          # bitmask over text_signals.LANGUAGES
    recent: list[float] = msgspec.field(default_factory=lambda: [0.0] * 6)
    recent_at_baseline: list[float] = msgspec.field(default_factory=list)  # at BASELINE_EVENTS
    # per-minute request counts: how close to a ceiling the account keeps its rate
    minute: int = 0
    minute_count: int = 0
    minute_counts: Moments = msgspec.field(default_factory=Moments)
    minute_max: int = 0
    # links to other accounts (hydra clusters)
    payment_fingerprint: str | None = None
    network_clients: list[str] = msgspec.field(default_factory=list)  # "ip-prefix|user-agent"
    # alerting (models.alerting): open alert per reason group, analyst suppressions, examples
    open_alerts: dict[str, list] = msgspec.field(default_factory=dict)
    suppressed: dict[str, float] = msgspec.field(default_factory=dict)
    flagged_event_ids: list[str] = msgspec.field(default_factory=list)  # last EXAMPLES
    # scoring bookkeeping (written by the engine)
    scored_at_events: int = 0
    scored_at_ts: float = 0.0
    risk: float = 0.0
    reasons: list[str] = msgspec.field(default_factory=list)
    first_alert_ts: float | None = None

    def update(self, event: Event, model_is_new: bool = False) -> None:
        """Fold one new (already de-duplicated) event into the profile. `model_is_new`: the
        requested model was first seen (by anyone) only recently - release chasing."""
        ts = event.ts
        if self.events == 0:
            self.first_ts = self.last_ts = ts
        else:
            gap = ts - self.last_ts
            if gap >= 0:
                self.gaps.add(math.log1p(gap))
            self.rate_mass = sketches.decay(self.rate_mass, gap, RATE_HALF_LIFE_S)
            self.last_ts = max(self.last_ts, ts)
        self.events += 1
        self.rate_mass += 1.0
        if event.created_ts is not None:
            self.created_ts = event.created_ts
        self.hours[int(ts // 3600) % 24] += 1
        self._update_minute(int(ts // 60))
        self.new_model_events += model_is_new
        if event.payment_fingerprint:
            self.payment_fingerprint = event.payment_fingerprint
        self.input_tokens += event.input_tokens or 0
        out = event.output_tokens or 0
        self.output_tokens += out
        self.output_len.add(out)
        if event.api_key_id:
            _remember(self.recent_api_keys, event.api_key_id)
        ip = event.source_ip
        if ip and (not self.recent_source_ips or self.recent_source_ips[0] != ip):
            _remember(self.recent_source_ips, ip)
            _remember(self.network_clients, f"{_prefix(ip)}|{event.user_agent or ''}")
        tiny_logprob = self._update_params(event.params) if event.params is not None else False
        reasoning_before = self.reasoning_asks
        if event.prompt is not None:
            self._update_prompt(event.prompt)
        shaped = extraction_shaped(event)
        self.shaped_requests += shaped
        reasoning = self.reasoning_asks > reasoning_before
        if shaped or reasoning or tiny_logprob:  # evidence an analyst can look up
            _remember(self.flagged_event_ids, event.event_id, EXAMPLES)
        single = 1.0 if event.prompt is not None and event.prompt.messages == 1 else 0.0
        self._update_recent((float(shaped), float(reasoning), float(tiny_logprob), single, math.log1p(out),
                             math.log1p(out / max(event.input_tokens or 0, 1))))

    def _update_recent(self, values: tuple[float, ...]) -> None:
        recent = self.recent
        if self.events == 1:
            recent[:] = values
        else:
            for i, v in enumerate(values):
                recent[i] += RECENT_ALPHA * (v - recent[i])
        if self.events == BASELINE_EVENTS:  # the account's own baseline, to measure drift against
            self.recent_at_baseline = list(recent)

    def _update_minute(self, minute: int) -> None:
        if minute == self.minute:
            self.minute_count += 1
            return
        if self.minute_count:
            self.minute_counts.add(self.minute_count)
            self.minute_max = max(self.minute_max, self.minute_count)
        self.minute, self.minute_count = minute, 1

    def _update_params(self, p) -> bool:
        """Count parameter use; True for a one-token-ish logprob probe (max_tokens 1-5)."""
        tiny = False
        if p.logprobs or (p.top_logprobs or 0) > 0:
            self.logprobs += 1
            if p.max_tokens is not None and 1 <= p.max_tokens <= 5:
                self.tiny_max_tokens_logprobs += 1
                tiny = True
        if p.logit_bias:
            self.logit_bias += 1
        if p.temperature == 0:
            self.temperature_zero += 1
        if p.seed is not None:
            self.seeded += 1
        return tiny

    def _update_prompt(self, prompt) -> None:
        text = prompt.text
        if text:
            self.with_text += 1
            view = instruction_view(text)
            language = reasoning_language(view)
            if language:
                self.reasoning_asks += 1
                self.reasoning_languages |= language
        if prompt.sha256:
            self.with_prompt_hash += 1
            sketches.hll_add(self.distinct_prompts, int(prompt.sha256[:16], 16))
        elif text:
            self.with_prompt_hash += 1
            sketches.hll_add(self.distinct_prompts, int(prompt_sha256(text)[:16], 16))
        if prompt.system_sha256:
            sketches.hll_add(self.distinct_systems, int(prompt.system_sha256[:16], 16))
        chars = prompt.chars if prompt.chars is not None else (len(text) if text else None)
        if chars is not None:
            self.prompt_chars.add(math.log1p(chars))
        simhash = int(prompt.simhash, 16) if prompt.simhash else (simhash64(text) if text else None)
        if simhash is not None:
            self._update_simhash(simhash)

    def _update_simhash(self, simhash: int) -> None:
        recent = self.recent_simhashes
        if recent:
            nearest = min(map(int.bit_count, map(simhash.__xor__, recent)))
            self.near_duplicates += 0 < nearest <= NEAR_DUP_BITS  # edited, not repeated
            self.templated += nearest <= TEMPLATE_BITS
        if len(recent) >= SIMHASH_SLOTS:
            recent.pop(0)
        recent.append(simhash)

    @property
    def rate_per_min(self) -> float:
        """Requests per minute, exponentially weighted over the last ~RATE_HALF_LIFE_S."""
        return self.rate_mass * math.log(2) / (RATE_HALF_LIFE_S / 60.0)


profile_encoder = msgspec.msgpack.Encoder()
profile_decoder = msgspec.msgpack.Decoder(AccountProfile)
