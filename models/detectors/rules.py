"""Named behaviours of extraction campaigns, each turned into a `Reason` with its evidence.

A rule fires only past a warm-up (enough events to judge) and its strength grows smoothly with
the evidence, so a fused score moves gradually instead of jumping at a threshold.
"""

from __future__ import annotations

from collections.abc import Callable

from models.features import DAY_S
from models.outcomes import Reason
from models.profile import AccountProfile

Rule = Callable[[AccountProfile, dict[str, float]], Reason | None]


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below `low`, 1 at or above `high`, linear in between."""
    if value <= low:
        return 0.0
    return 1.0 if value >= high else (value - low) / (high - low)


def logprob_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 30:
        return None
    share = f["tiny_logprob_share"]
    # Logit bias or near-duplicate probing separates harvesting from eval harnesses that
    # also read logprobs of one-token answers.
    probing = max(f["logit_bias_share"], f["near_duplicate_share"], f["templated_share"])
    strength = ramp(share, 0.2, 0.6) * ramp(probing, 0.1, 0.5)
    if strength == 0:
        return None
    return Reason("logprob_harvesting",
                  f"{share:.0%} of {p.events} requests take logprobs with max_tokens<=5, "
                  f"{f['logit_bias_share']:.0%} with logit_bias", strength,
                  {"tiny_logprob_share": share, "logit_bias_share": f["logit_bias_share"]})


def reasoning_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.with_text < 30:
        return None
    share, unique = f["reasoning_share"], f["unique_prompt_share"]
    strength = ramp(share, 0.25, 0.6) * ramp(unique, 0.6, 0.9) * ramp(p.events, 30, 150)
    if strength == 0:
        return None
    return Reason("reasoning_elicitation",
                  f"{share:.0%} of {p.with_text} prompts ask for step-by-step reasoning, "
                  f"{unique:.0%} unique", strength,
                  {"reasoning_share": share, "unique_prompt_share": unique})


def templated_sweep(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.with_prompt_hash < 100:
        return None
    templated, unique = f["templated_share"], f["unique_prompt_share"]
    long_answers = ramp(f["output_input_ratio"], 0.4, 1.2)
    strength = ramp(templated, 0.3, 0.7) * ramp(unique, 0.7, 0.95) * long_answers
    strength *= ramp(p.events, 100, 400)
    if strength == 0:
        return None
    return Reason("templated_sweep",
                  f"{templated:.0%} of prompts reuse a template, {unique:.0%} unique, "
                  f"{p.output_tokens / max(p.input_tokens, 1):.1f} output tokens per input token",
                  strength, {"templated_share": templated, "unique_prompt_share": unique})


def around_the_clock(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 200 or p.last_ts - p.first_ts < DAY_S * 0.75:
        return None
    strength = ramp(f["hour_entropy"], 0.9, 0.98) * ramp(f["gap_regularity"], 0.5, 0.8)
    if strength == 0:
        return None
    return Reason("scripted_around_the_clock",
                  f"active in all hours (hour entropy {f['hour_entropy']:.2f}) with machine-"
                  f"regular gaps ({f['gap_regularity']:.2f})", strength,
                  {"hour_entropy": f["hour_entropy"], "gap_regularity": f["gap_regularity"]})


def logit_bias_probing(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 30:
        return None
    strength = ramp(f["logit_bias_share"], 0.1, 0.5)
    if strength == 0:
        return None
    return Reason("logit_bias_probing",
                  f"{f['logit_bias_share']:.0%} of {p.events} requests set logit_bias", strength,
                  {"logit_bias_share": f["logit_bias_share"]})


def new_account_burst(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    age = f["account_age_days"]
    if age < 0 or age > 7 or p.events < 200:
        return None
    strength = ramp(p.peak_rate_per_min, 5, 30)
    if strength == 0:
        return None
    return Reason("new_account_burst",
                  f"account {age:.1f} days old sent {p.events} requests, "
                  f"peak {p.peak_rate_per_min:.0f}/min", strength,
                  {"account_age_days": age, "peak_rate_per_min": p.peak_rate_per_min})


RULES: dict[str, tuple[Rule, float]] = {
    # name: (rule, weight: how much of the 0..100 risk this behaviour alone can justify)
    "logprob_harvesting": (logprob_harvesting, 0.97),
    "reasoning_elicitation": (reasoning_harvesting, 0.9),
    "templated_sweep": (templated_sweep, 0.85),
    "scripted_around_the_clock": (around_the_clock, 0.5),
    "logit_bias_probing": (logit_bias_probing, 0.6),
    "new_account_burst": (new_account_burst, 0.3),
}
