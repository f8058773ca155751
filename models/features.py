"""Account-level feature vector: the profile reduced to comparable, scale-free numbers."""

from __future__ import annotations

import math

from distillguard.models import sketches
from distillguard.models.profile import (
    R_REASONING,
    R_SHAPED,
    R_TINY_LOGPROB,
    AccountProfile,
)
from distillguard.models.substreams import most_extractive

DAY_S = 86400.0
DRIFT_INDICES = {"extraction-shaped": R_SHAPED, "reasoning-asking": R_REASONING,
                 "one-token logprob": R_TINY_LOGPROB}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def confident_share(part: float, whole: float, z: float = 1.64) -> float:
    """Lower end of the Wilson interval (one-sided 95%) of part/whole: the share an account's
    requests show with confidence, so 20 of 30 and 200 of 300 do not weigh the same."""
    if whole <= 0:
        return 0.0
    p = min(1.0, part / whole)
    z2 = z * z
    centre = p + z2 / (2 * whole)
    spread = z * math.sqrt(p * (1 - p) / whole + z2 / (4 * whole * whole))
    return max(0.0, (centre - spread) / (1 + z2 / whole))


def drift(p: AccountProfile) -> tuple[str, float, float]:
    """The indicator that rose most over the account's own baseline: (name, before, now)."""
    if not p.recent_at_baseline:
        return "", 0.0, 0.0
    name, i = max(DRIFT_INDICES.items(),
                  key=lambda kv: p.recent[kv[1]] - p.recent_at_baseline[kv[1]])
    return name, p.recent_at_baseline[i], p.recent[i]


def account_features(p: AccountProfile) -> dict[str, float]:
    """Numbers a detector can learn from; every value is finite and roughly 0..1 or a log."""
    n = p.events
    hashed = p.with_prompt_hash
    distinct = min(sketches.hll_count(p.distinct_prompts), hashed) if hashed else 0.0
    # Regularity of raw inter-arrival gaps: burstiness (sigma - mu) / (sigma + mu) is 0 for
    # Poisson arrivals (CV 1), -1 for a metronome, towards +1 for bursts; "regular" is its
    # negative part, so ordinary random arrivals score 0.
    g = p.gap_raw
    cv = g.std / g.mean if g.n > 2 and g.mean > 0 else 1.0
    burstiness = (cv - 1.0) / (cv + 1.0)
    _, _, sub_share, sub_events, _, _, _ = most_extractive(p.substreams, 20,
                                                           span_s=p.last_ts - p.first_ts)
    # Unknown turns count when the prompt was short for its segment (models.profile): a short
    # total input leaves no room for a conversation before it.
    shaped = p.shaped_requests + p.shaped_unknown
    systems = min(sketches.hll_count(p.distinct_systems), n) if n else 0.0
    age_days = (p.last_ts - p.created_ts) / DAY_S if p.created_ts is not None else -1.0
    minutes = p.minute_counts
    return {
        "log_rate_per_min": math.log1p(p.rate_per_min),
        "log_output_per_request": math.log1p(p.output_len.mean),
        "output_input_ratio": math.log1p(p.output_tokens / max(p.input_tokens, 1)),
        "hour_entropy": sketches.entropy(p.hours),
        "gap_regularity": max(0.0, -burstiness),
        "burstiness": burstiness,
        "shaped_share": _share(shaped, n),
        "shaped_confident": confident_share(shaped, n),
        "tool_share": _share(p.tool_requests, n),
        "tool_set_sizes": float(p.tool_counts.bit_count()),
        "scripts": float(p.scripts.bit_count()),
        "choice_probe_share": _share(p.choice_probes, p.tiny_max_tokens_logprobs),
        "open_probe_share": _share(p.tiny_max_tokens_logprobs - p.choice_probes, n)
        if p.with_text else 0.0,
        "soft_label_share": _share(p.soft_labels, n),
        "distinct_system_share": systems / n if n else 0.0,
        "substream_share": sub_share,
        "substream_events": float(sub_events),
        "recent_shaped_share": p.recent[R_SHAPED],
        "logprob_share": _share(p.logprobs, n),
        "tiny_logprob_share": _share(p.tiny_max_tokens_logprobs, n),
        "grading_share": _share(p.grading_prompts, p.with_text),
        "reordered_share": _share(p.reordered, n),
        "public_share": _share(p.public_prompts, hashed),
        "public_probe_share": _share(p.public_probes, p.tiny_max_tokens_logprobs),
        "recent_tiny_logprob_share": p.recent[R_TINY_LOGPROB],
        "logit_bias_share": _share(p.logit_bias, n),
        "temperature_zero_share": _share(p.temperature_zero, n),
        "unique_prompt_share": distinct / hashed if hashed else 0.0,
        "near_duplicate_share": _share(p.near_duplicates, n),
        "templated_share": _share(p.templated, n),
        "reasoning_share": _share(p.reasoning_asks, p.with_text),
        "recent_reasoning_share": p.recent[R_REASONING],
        "reasoning_languages": float(p.reasoning_languages.bit_count()),
        "account_age_days": age_days,
        "minute_fill": minutes.mean / p.minute_max if p.minute_max else 0.0,
        "minute_cv": minutes.std / minutes.mean if minutes.n > 2 and minutes.mean else 1.0,
        "active_minutes": float(minutes.n),
        "new_model_share": _share(p.new_model_events, n),
    }


def swapped_pairs(f: dict[str, float]) -> float:
    """0..1: how much of the account is pairwise judgments asked in both orders: prompts that
    reorder a recent one (models.profile) where its prompts are otherwise unlike each other. A
    few-shot benchmark's long fixed prefix makes most of its prompts near-duplicates, and items
    of one length (BIG-Bench Hard's boolean expressions) then look reordered too; a judge's
    prompts are two long answers each, alike only in their swapped twin."""
    reordered = f["reordered_share"]
    return _ramp(reordered, 0.1, 0.3) * (1 - _ramp(f["templated_share"] - 2 * reordered, 0.1, 0.4))


def benchmark_run(f: dict[str, float]) -> float:
    """0..1: how much the account's prompts look like a benchmark run rather than a sweep: a
    harness walks a fixed public item set, so its prompts are the ones other accounts running
    the benchmark send (models.items), or its own again (a second run for another model or
    setting). A harvest wants ever-new answers: public prompts mixed with its own, or nobody
    else's; few repeats. Without text this is what tells a chain-of-thought benchmark from a
    response harvest (the cheapest way to look like one is to harvest only public benchmark
    items, and to pay for every run twice)."""
    return max(_ramp(f["public_share"], 0.5, 0.9), _ramp(1.0 - f["unique_prompt_share"], 0.2, 0.5))


def _ramp(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    return 1.0 if value >= high else (value - low) / (high - low)


def extraction_level(p: AccountProfile, f: dict[str, float]) -> float:
    """0..1: how much of what the account does looks like harvesting a model's outputs, by any
    recipe (long answers to short prompts, logprob probes of open text, judge prompts, tool-use
    episodes with ever-changing tool sets). Used by the
    group stage: a campaign's members need not each be a full distiller."""
    # Long answers to reasoning asks are what chain-of-thought benchmarks and tutors get: they
    # are not counted as shaped (models.profile), and reasoning asks are not extraction here,
    # even on a reasoning model (a benchmark run against one has long hidden reasoning too).
    shaped = _ramp(f["shaped_share"], 0.05, 0.5)
    # Without text a probe of a choice item cannot be told from one of open text: it counts
    # for little unless logit bias shows the probing, and less when its prompts are public
    # items (a benchmark's), as long answers to a benchmark run's prompts do.
    run = 0.0 if p.with_text * 2 >= p.events else benchmark_run(f)
    shaped *= 1 - run
    open_text = 1 - f["choice_probe_share"] if p.with_text else 0.15 * (
        1 - _ramp(f["public_probe_share"], 0.3, 0.8))
    probe = max(_ramp(f["tiny_logprob_share"], 0.1, 0.5) * max(
        open_text, _ramp(f["logit_bias_share"], 0.1, 0.4)), _ramp(f["soft_label_share"], 0.1, 0.4))
    # Judgments: grading prompts (text), or the same prompt reordered with an answer each time
    # (a pairwise judgment asked in both orders: without text, the judge's mark).
    grading = max(_ramp(f["grading_share"], 0.1, 0.5), swapped_pairs(f))
    # Distinct system prompts are the mark here; a varying tool count alone is a product's
    # agent as often as a harvester's (it stays below EXTRACTIVE in models.groups).
    agentic = _ramp(f["tool_share"], 0.2, 0.7) * max(_ramp(f["distinct_system_share"], 0.05, 0.2),
                                                     0.4 * _ramp(f["tool_set_sizes"], 4, 10))
    return max(shaped, probe, grading, agentic) * _ramp(p.events, 3, 20)


def tool_variety(f: dict[str, float]) -> float:
    """0..1: how much the tool-use looks like many environments rather than one product's
    agent: distinct system prompts per request (each episode its own tool schemas), or, when
    the system prompt stays the same, many different tool-set sizes (at most 0.5: a product may
    enable tools per task, and an agent framework may offer whatever tools a task needs)."""
    return max(_ramp(f["distinct_system_share"], 0.05, 0.2), 0.5 * _ramp(f["tool_set_sizes"], 4, 10))
