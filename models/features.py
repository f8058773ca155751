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

DAY_S = 86400.0
DRIFT_INDICES = {"extraction-shaped": R_SHAPED, "reasoning-asking": R_REASONING,
                 "one-token logprob": R_TINY_LOGPROB}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


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
    gaps_cv = p.gaps.std / p.gaps.mean if p.gaps.n > 2 and p.gaps.mean > 0 else 1.0
    age_days = (p.last_ts - p.created_ts) / DAY_S if p.created_ts is not None else -1.0
    minutes = p.minute_counts
    return {
        "log_rate_per_min": math.log1p(p.rate_per_min),
        "log_output_per_request": math.log1p(p.output_len.mean),
        "output_input_ratio": math.log1p(p.output_tokens / max(p.input_tokens, 1)),
        "hour_entropy": sketches.entropy(p.hours),
        "gap_regularity": 1.0 / (1.0 + gaps_cv),
        "shaped_share": _share(p.shaped_requests, n),
        "recent_shaped_share": p.recent[R_SHAPED],
        "logprob_share": _share(p.logprobs, n),
        "tiny_logprob_share": _share(p.tiny_max_tokens_logprobs, n),
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
