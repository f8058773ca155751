"""Per-account behaviour profile: running statistics and sketches of everything an account sends.

State is fixed-size: counters, decayed rates, Welford moments, HyperLogLog registers, a 24-bin
hour histogram, and a ring of recent simhashes for near-duplicate detection. Nothing grows with
the number of events. De-duplication of event ids lives outside the profile
(models/seen_events.py), so the record rewritten on every flush stays small; it is encoded as
a msgpack array (field order, no names), so fields are only ever appended.
"""

from __future__ import annotations

import math
import zlib

import msgspec
from distillguard.models import sketches
from distillguard.models.event import Event
from distillguard.models.group_messages import GroupVerdict
from distillguard.models.simhash import prompt_sha256, simhash64
from distillguard.models.substreams import HOUR_BLOCK, SubStreams
from distillguard.models.text_signals import (
    TextSignals,
    is_closed_question,
    scripts_of,
    view_signals,
)
from distillguard.models.thresholds import PRIOR, Norms

SIMHASH_SLOTS = 16         # recent prompt simhashes compared against each new one
NEAR_DUP_BITS = 3          # Hamming distance for "the same prompt, lightly edited"
TEMPLATE_BITS = 12         # Hamming distance for "the same template, another filler"
REORDER_BITS = 2           # ...for "the same words reordered" (a simhash of word n-grams keeps
#                            every n-gram when whole passages swap places between the same
#                            template words: 0; a few bits when the labels before them differ)
RATE_HALF_LIFE_S = 600.0   # request-rate memory: 10 minutes of event time
RECENT_SCOPES = 5          # api keys / source IPs remembered for enforcement decisions
EXAMPLES = 3               # example event ids kept as alert evidence
RECENT_ALPHA = 1 / 64      # recent-window features: exponential weight of ~64 requests
PROBE_TOKENS = 16          # logprobs over at most this many tokens: a probe, not an answer
BASELINE_EVENTS = 50       # the recent window at this many requests is the account's baseline,
WARM_WINDOW = 64           # ...once it spans this many requests judged by learned cut-offs
# Indices of AccountProfile.recent (exponentially weighted over the last ~64 requests):
R_SHAPED, R_REASONING, R_TINY_LOGPROB = range(3)  # TINY_LOGPROB: probes of open text
_LN2 = math.log(2)


def visible_output(event: Event) -> int:
    """Answer tokens without hidden reasoning (the contract counts reasoning inside output)."""
    out = event.output_tokens or 0
    reasoning = event.reasoning_tokens or 0
    return out - reasoning if reasoning <= out else out


LONG_FACTOR = 1.0  # an answer over the segment's 75th percentile of answers is long
ANSWER_MIN = 16    # fewer visible tokens is a label or a probe, not an answer
# A reasoning ask explains a long answer (a worked solution is a few times a plain one), not
# an essay: a visible answer over three times the segment's long cut-off is extraction-shaped even
# when the prompt asked for steps.
ESSAY_FACTOR = 3.0


def extraction_shaped(event: Event, norms: Norms = PRIOR) -> int:
    """One request that looks like harvesting a long answer: a visible answer over the
    population's 75th percentile of answers for its segment, and at least twice its own prompt
    (the answer is the point, not the prompt). 2: a single-turn request; 1: the message count is
    unknown and the prompt is short for the segment (at most its median): without a turn count,
    only a short prompt shows there was no conversation before it; 0: not shaped, or a
    conversation."""
    visible = visible_output(event)
    prompt = event.input_tokens or 0
    if visible < LONG_FACTOR * norms.long_output or visible < 2 * prompt:
        return 0
    messages = event.prompt.messages if event.prompt is not None else None
    if messages is None:
        return 1 if prompt <= norms.short_input else 0
    return 2 if messages <= 1 else 0


SOFT_RATIO = 4.0   # answer-seeking: an answer at least four times its prompt...
SOFT_FACTOR = 0.5  # ...and over half the segment's long cut-off


def answer_seeking(event: Event, visible: int, norms: Norms = PRIOR) -> bool:
    """Softer than extraction-shaped, for comparing an account's sub-streams with each other
    (never counted as shape on its own): a single-turn (or, turns unknown, short) prompt whose
    visible answer is at least four times it and over half the long cut-off. An instruction
    harvest asking for a few hundred tokens is this; so is some of a chat product's traffic,
    which is why it only tells a sub-stream apart from the rest of its account."""
    prompt = event.input_tokens or 0
    if visible < SOFT_FACTOR * norms.long_output or visible < SOFT_RATIO * prompt:
        return False
    messages = event.prompt.messages if event.prompt is not None else None
    if messages is None:
        return prompt <= norms.short_input
    return messages <= 1


def is_answer_read(event: Event, out: int) -> bool:
    """Logprobs read over a whole answer, not a probe: more than PROBE_TOKENS visible tokens, no
    shorter than the prompt, to a prompt that is not a conversation (soft labels; a RAG app
    scoring its grounded answers reads them over a long prompt)."""
    visible = out - (event.reasoning_tokens or 0) if (event.reasoning_tokens or 0) <= out else out
    messages = event.prompt.messages if event.prompt is not None else None
    return visible > PROBE_TOKENS and visible >= (event.input_tokens or 0) and (
        messages is None or messages <= 1)


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
    gaps: Moments | None = None          # unused (was log inter-arrival seconds): 1 byte
    output_len: Moments = msgspec.field(default_factory=Moments)  # output tokens per request
    prompt_chars: Moments = msgspec.field(default_factory=Moments)  # unused (nothing read it)
    hours: list[int] = msgspec.field(default_factory=lambda: [0] * 24)
    # parameters
    logprobs: int = 0
    tiny_max_tokens_logprobs: int = 0    # logprobs over at most PROBE_TOKENS answer tokens
    logit_bias: int = 0
    temperature_zero: int = 0
    seeded: int = 0                      # unused (nothing read it)
    # prompts
    with_prompt_hash: int = 0
    with_text: int = 0
    reasoning_asks: int = 0
    grading_prompts: int = 0             # judge/rubric prompts (reward-model harvesting)
    near_duplicates: int = 0
    templated: int = 0
    distinct_prompts: bytearray = msgspec.field(default_factory=sketches.hll_new)
    distinct_systems: bytearray = msgspec.field(
        default_factory=lambda: sketches.hll_new(sketches.HLL_SMALL))
    recent_simhashes: list[int] = msgspec.field(default_factory=list)
    recent_api_keys: list[str] = msgspec.field(default_factory=list)    # last RECENT_SCOPES
    recent_source_ips: list[str] = msgspec.field(default_factory=list)  # distinct values
    # shape, recent window and drift
    shaped_requests: int = 0
    new_model_events: int = 0
    reasoning_languages: int = 0          # bitmask over text_signals.LANGUAGES
    recent: list[float] = msgspec.field(default_factory=lambda: [0.0] * 3)
    recent_at_baseline: list[float] = msgspec.field(default_factory=list)  # at BASELINE_EVENTS
    # per-minute request counts: how close to a ceiling the account keeps its rate
    minute: int = 0
    minute_count: int = 0
    minute_counts: Moments = msgspec.field(default_factory=Moments)
    minute_max: int = 0
    # links to other accounts (hydra clusters)
    payment_fingerprint: str | None = None
    network_clients: list[str] = msgspec.field(default_factory=list)  # "ip-prefix|user-agent"
    # detection, issue 8 (~300 bytes): shape with unknown turns, raw gaps, tools, scripts,
    # sub-streams per api key / system prompt / hour block, hosting network + client
    shaped_unknown: int = 0              # long answer to a short prompt, turns unknown
    gap_raw: Moments = msgspec.field(default_factory=Moments)  # inter-arrival seconds
    tool_requests: int = 0               # requests offering tools
    many_tool_requests: int = 0          # ...more than the population's 90th percentile (unread)
    tool_counts: int = 0                 # bitmask of distinct tool counts offered (capped at 63)
    long_reasoning: int = 0              # hidden reasoning over the 90th percentile (unread)
    scripts: int = 0                     # bitmask of writing systems of reasoning/shaped asks
    asn_clients: list[str] = msgspec.field(default_factory=list)  # "asn|user-agent", last 2
    substreams: SubStreams = msgspec.field(default_factory=SubStreams)
    choice_probes: int = 0               # probes of a closed question (choice item, "...?")
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
    # detection, issue 8 round 2
    extractive: int = 0                  # harvest-like requests: shaped, open-text probe,
    #                                      grading prompt or reasoning ask (sub-streams' flag)
    raw_risk: int = -1                   # risk before calibration (models.calibration), -1: none
    soft_labels: int = 0                 # logprobs read over whole answers (is_answer_read)
    # the group stage's verdicts on this account (models.groups.hold: the KEEP strongest)
    group_verdicts: list[GroupVerdict] = msgspec.field(default_factory=list)
    published_events: int = 0  # events when the account last told its groups (engine)
    # detection, issue 8 round 3
    recent_marks: bytearray = msgspec.field(default_factory=bytearray)  # per recent simhash,
    #                                      aligned from the end: (chars & 0xFF, a sha256 byte)
    reordered: int = 0  # answers to a recent prompt reordered: the same words and length, a new
    #                     prompt (a pairwise judgment in both orders, CircularEval's rotations)
    warm_run: int = 0   # requests in a row judged by learned cut-offs (capped at WARM_WINDOW)
    public_prompts: int = 0  # prompts another account had sent before (models.items)
    public_probes: int = 0   # ...of them, logprob probes (a public item's choice, read)
    # detection, issue 8 round 4
    reasoning_only: int = 0  # harvest-like requests that are so only by their reasoning ask

    def update(self, event: Event, model_is_new: bool = False, norms: Norms = PRIOR,
               warm: bool = True, public: bool | None = None) -> None:
        """Fold one new (already de-duplicated) event into the profile. `model_is_new`: the
        requested model was first seen (by anyone) only recently - release chasing. `norms`:
        the population's cut-offs for the event's segment (models.thresholds); `warm`: they
        were learned, not the warm-up prior; `public`: another account sent the same prompt
        before (models.items; None: not known)."""
        ts = event.ts
        if self.events == 0:
            self.first_ts = self.last_ts = ts
        else:
            gap = ts - self.last_ts
            if gap > 0:
                self.gap_raw.add(gap)
                self.rate_mass *= math.exp(-gap * _LN2 / RATE_HALF_LIFE_S)
                self.last_ts = ts
            elif gap == 0:
                self.gap_raw.add(0.0)
        self.events += 1
        self.rate_mass += 1.0
        if event.created_ts is not None:
            self.created_ts = event.created_ts
        hour = int(ts // 3600) % 24
        self.hours[hour] += 1
        minute = int(ts // 60)
        if minute == self.minute:
            self.minute_count += 1
        else:
            self._next_minute(minute)
        if model_is_new:
            self.new_model_events += 1
        if event.payment_fingerprint:
            self.payment_fingerprint = event.payment_fingerprint
        self.input_tokens += event.input_tokens or 0
        out = event.output_tokens or 0
        self.output_tokens += out
        self.output_len.add(out)
        params = event.params
        reasoning_tokens = event.reasoning_tokens or 0
        key = event.api_key_id
        if key and (not self.recent_api_keys or self.recent_api_keys[0] != key):
            _remember(self.recent_api_keys, key)
        ip = event.source_ip
        if ip and (not self.recent_source_ips or self.recent_source_ips[0] != ip):
            _remember(self.recent_source_ips, ip)
            _remember(self.network_clients, f"{_prefix(ip)}|{event.user_agent or ''}")
        if event.asn is not None and (not self.asn_clients or not self.asn_clients[0].startswith(
                f"{event.asn}|")):
            _remember(self.asn_clients, f"{event.asn}|{event.user_agent or ''}", 2)
        prompt = event.prompt
        text = prompt.text if prompt is not None else None
        signals = prompt.signals if prompt is not None else None  # text derived upstream
        probe = self._update_params(params, out, text, signals) if params is not None else 0
        if params is not None and params.tools:
            self._update_tools(params.tools, norms)
        reasoning = grading = reordered = False
        if prompt is not None:
            reasoning, grading, reordered = self._update_prompt(prompt, text, signals)
        visible = visible_output(event)
        if reasoning and visible < ESSAY_FACTOR * norms.long_output:
            shape = 0  # a long answer is what a reasoning ask is for: judged as reasoning
            seeking = False
        else:
            shape = extraction_shaped(event, norms)
            seeking = shape > 0 or (visible >= SOFT_FACTOR * norms.long_output  # cheap first
                                    and answer_seeking(event, visible, norms))
        if reordered and visible > ANSWER_MIN:  # a label or a choice read is no judgment
            self.reordered += 1
        else:
            reordered = False
        if shape == 2:
            self.shaped_requests += 1
        elif shape:
            self.shaped_unknown += 1
        if public:
            self.public_prompts += 1
            self.public_probes += probe > 0
        if probe == 0 and params is not None and (
                params.logprobs or (params.top_logprobs or 0) > 0) and is_answer_read(event, out):
            self.soft_labels += 1  # the distribution over a whole harvested answer
        if reasoning_tokens > norms.long_reasoning:
            self.long_reasoning += 1
        if reasoning or shape:  # languages of the asks that matter, not of all chat
            if signals is not None:
                self.scripts |= signals.scripts
            elif text:
                self.scripts |= scripts_of(text)
        if shape or reasoning or probe or grading or reordered:  # evidence to look up
            _remember(self.flagged_event_ids, event.event_id, EXAMPLES)
        harvest = seeking or probe == 2 or grading or reordered
        extractive = harvest or reasoning
        self.extractive += extractive
        if reasoning and not harvest:
            self.reasoning_only += 1
        subs = self.substreams
        system = prompt.system_sha256 if prompt is not None else None
        user = event.user_id
        # Keys: 16 bits suffice inside one account (| 1: never 0, which is "no value"); system
        # prompts keep 32 bits, they link accounts (models.groups). The API key comes with the
        # client's settings (streams, caps the answer, asks a response format; not temperature
        # or logprobs, which one product varies per request): a product's backend sends one
        # configuration every time, a script slipped in beside it on the same key is another
        # program with its own (even bits: a keyed value stays odd, "no value" with settings
        # is a sub-stream of its own).
        setting = 0 if params is None else (
            (params.stream is True) | (params.max_tokens is not None) << 1
            | (params.response_format is not None) << 2) << 1
        keys = (((zlib.crc32(key.encode()) & 0xFFFF | 1) if key else 0) ^ setting,
                int(system[:8], 16) if system else 0, hour // HOUR_BLOCK,
                (zlib.crc32(user.encode()) & 0xFFFF | 1) if user else 0)
        if extractive:
            subs.add_all(keys, not harvest)
        else:
            subs.count_all(keys)
        recent = self.recent
        shaped = float(shape > 0)  # unknown turns with a short prompt count, as in the totals
        if self.events == 1:
            recent[:3] = (shaped, float(reasoning), float(probe == 2))
        else:
            recent[R_SHAPED] += RECENT_ALPHA * (shaped - recent[R_SHAPED])
            recent[R_REASONING] += RECENT_ALPHA * (reasoning - recent[R_REASONING])
            recent[R_TINY_LOGPROB] += RECENT_ALPHA * ((probe == 2) - recent[R_TINY_LOGPROB])
            # The account's own baseline, to measure drift: its recent window once it holds
            # BASELINE_EVENTS requests judged by learned cut-offs. A window judged while they
            # still warm up measures the population's yardstick moving, not the account (a
            # chain-of-thought benchmark's answers, long by the prior, are shaped once learned).
            if not self.recent_at_baseline:
                if not warm:
                    self.warm_run = 0
                elif self.warm_run < WARM_WINDOW:
                    self.warm_run += 1
                if self.events >= BASELINE_EVENTS and self.warm_run >= WARM_WINDOW:
                    self.recent_at_baseline = recent[:3]

    def _next_minute(self, minute: int) -> None:
        if self.minute_count:
            self.minute_counts.add(self.minute_count)
            self.minute_max = max(self.minute_max, self.minute_count)
        self.minute, self.minute_count = minute, 1

    def _update_params(self, p, output_tokens: int, text: str | None,
                       signals: TextSignals | None = None) -> int:
        """Count parameter use. Returns 2 for a logprob probe of open text (logprobs read over a
        handful of answer tokens: a read of the distribution, not an answer), 1 for a probe of
        a closed question (a choice or a label), 0 for no probe. Without text a probe is 2:
        unknown is not taken for benign (the rules weigh text-free probes apart)."""
        probe = 0
        if p.logprobs or (p.top_logprobs or 0) > 0:
            self.logprobs += 1
            short = output_tokens if output_tokens else p.max_tokens
            if short is not None and short <= PROBE_TOKENS:
                self.tiny_max_tokens_logprobs += 1
                probe = 2
                if (signals.closed if signals is not None
                        else bool(text) and is_closed_question(text)):
                    self.choice_probes += 1
                    probe = 1
        if p.logit_bias:
            self.logit_bias += 1
        if p.temperature == 0:
            self.temperature_zero += 1
        return probe

    def _update_tools(self, tools: int, norms: Norms) -> None:
        """A tool-use request (`tools` > 0 offered): how many, how many with an unusually large
        tool set, and which tool-set sizes (a product's agent offers the same few; a harvester
        replays many)."""
        self.tool_requests += 1
        self.many_tool_requests += tools > norms.many_tools
        self.tool_counts |= 1 << min(tools, 63)

    def _update_prompt(self, prompt, text: str | None,
                       signals: TextSignals | None = None) -> tuple[bool, bool, bool]:
        """Fold the prompt in; returns (asks for reasoning, is a grading prompt, reorders a
        recent prompt), the first two False without text (or its derived `signals`)."""
        reasoning = grading = reordered = False
        if text or signals is not None:
            self.with_text += 1
            if signals is not None:
                language, grading = signals.language, signals.grading
            else:
                language, grading = view_signals(text)
            if language:
                reasoning = True
                self.reasoning_asks += 1
                self.reasoning_languages |= language
            if grading:
                self.grading_prompts += 1
        sha = prompt.sha256 or (prompt_sha256(text) if text else None)
        if sha:
            self.with_prompt_hash += 1
            sketches.hll_add(self.distinct_prompts, int(sha[:16], 16))
        if prompt.system_sha256:
            sketches.hll_add(self.distinct_systems, int(prompt.system_sha256[:16], 16))
        chars = prompt.chars if prompt.chars is not None else (len(text) if text else None)
        simhash = int(prompt.simhash, 16) if prompt.simhash else (simhash64(text) if text else None)
        if simhash is not None:
            reordered = self._update_simhash(simhash, (chars or 0) & 0xFF,
                                             int(sha[:2], 16) if sha else -1)
        return reasoning, grading, reordered

    def _update_simhash(self, simhash: int, size: int, sha_byte: int) -> bool:
        """Compare with the recent prompts; True when this one reorders one of them: the same
        words (simhash within REORDER_BITS) and length, another prompt (sha256). `size`: its
        chars & 0xFF; `sha_byte`: a byte of its sha256, -1 without a hash."""
        recent, marks = self.recent_simhashes, self.recent_marks
        reordered = False
        if recent:
            nearest = min(map(int.bit_count, map(simhash.__xor__, recent)))
            self.near_duplicates += 0 < nearest <= NEAR_DUP_BITS  # edited, not repeated
            self.templated += nearest <= TEMPLATE_BITS
            if nearest <= REORDER_BITS and sha_byte >= 0:  # rare: look at which one
                near = [i for i, other in enumerate(recent)
                        if (simhash ^ other).bit_count() <= NEAR_DUP_BITS]
                # One partner only: a long fixed prefix with a short item (a few-shot
                # benchmark's) makes every recent item of the task a near-duplicate, some of
                # the same length; a swapped pair has just the other order.
                j = 2 * (near[0] - (len(recent) - len(marks) // 2))  # marks: from the end
                reordered = (len(near) == 1 and j >= 0 and marks[j] == size
                             and marks[j + 1] != sha_byte
                             and (simhash ^ recent[near[0]]).bit_count() <= REORDER_BITS)
        if len(recent) >= SIMHASH_SLOTS:
            recent.pop(0)
        recent.append(simhash)
        marks.append(size)
        marks.append(sha_byte & 0xFF)
        if len(marks) > 2 * SIMHASH_SLOTS:  # the rings are full: drop the oldest mark too
            del marks[:2]
        return reordered

    @property
    def rate_per_min(self) -> float:
        """Requests per minute, exponentially weighted over the last ~RATE_HALF_LIFE_S."""
        return self.rate_mass * math.log(2) / (RATE_HALF_LIFE_S / 60.0)


profile_encoder = msgspec.msgpack.Encoder()
profile_decoder = msgspec.msgpack.Decoder(AccountProfile)
