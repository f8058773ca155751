"""Account-level feature vector: the profile reduced to comparable, scale-free numbers."""

from __future__ import annotations

import math

from models import sketches
from models.profile import AccountProfile

DAY_S = 86400.0


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def account_features(p: AccountProfile) -> dict[str, float]:
    """Numbers a detector can learn from; every value is finite and roughly 0..1 or a log."""
    n = p.events
    hashed = p.with_prompt_hash
    distinct = min(sketches.hll_count(p.distinct_prompts), hashed) if hashed else 0.0
    gaps_cv = p.gaps.std / p.gaps.mean if p.gaps.n > 2 and p.gaps.mean > 0 else 1.0
    age_days = (p.last_ts - p.created_ts) / DAY_S if p.created_ts is not None else -1.0
    return {
        "log_events": math.log1p(n),
        "log_rate_per_min": math.log1p(p.rate_per_min),
        "log_peak_rate_per_min": math.log1p(p.peak_rate_per_min),
        "log_output_per_request": math.log1p(p.output_len.mean),
        "output_input_ratio": math.log1p(p.output_tokens / max(p.input_tokens, 1)),
        "hour_entropy": sketches.entropy(p.hours),
        "gap_regularity": 1.0 / (1.0 + gaps_cv),
        "logprob_share": _share(p.logprobs, n),
        "tiny_logprob_share": _share(p.tiny_max_tokens_logprobs, n),
        "logit_bias_share": _share(p.logit_bias, n),
        "n_gt_1_share": _share(p.n_gt_1, n),
        "temperature_zero_share": _share(p.temperature_zero, n),
        "unique_prompt_share": distinct / hashed if hashed else 0.0,
        "near_duplicate_share": _share(p.near_duplicates, n),
        "templated_share": _share(p.templated, n),
        "reasoning_share": _share(p.reasoning_asks, p.with_text),
        "grading_share": _share(p.grading_prompts, p.with_text),
        "single_turn_share": _share(p.single_turn, p.with_messages),
        "error_share": _share(p.errors, n),
        "account_age_days": age_days,
    }
