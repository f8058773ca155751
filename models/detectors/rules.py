"""Named behaviours of extraction campaigns, each turned into a `Reason` with its evidence.

A rule fires only past a warm-up (enough events to judge) and its strength grows smoothly with
the evidence, so a fused score moves gradually instead of jumping at a threshold. Rules look at
the account's lifetime AND its recent window (~64 requests), so an account that turns bad is
judged by what it does now, not diluted by its past.
"""

from __future__ import annotations

from collections.abc import Callable

from distillguard.models.features import (
    DAY_S,
    benchmark_run,
    confident_share,
    drift,
    swapped_pairs,
    tool_variety,
)
from distillguard.models.outcomes import Reason
from distillguard.models.profile import AccountProfile
from distillguard.models.substreams import most_extractive

Rule = Callable[[AccountProfile, dict[str, float]], Reason | None]
TEXT_FREE_SHAPE = 0.8  # extraction shape without text, medium with any amount of context


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below `low`, 1 at or above `high`, linear in between."""
    if value <= low:
        return 0.0
    return 1.0 if value >= high else (value - low) / (high - low)


def logprob_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Logprobs read over a handful of answer tokens, in bulk. With text, a read of a closed
    question (a multiple-choice item, a prompt ending "Answer:" or "?") reveals a choice among
    few labels, as benchmark harnesses and labellers read it; a read of open text reveals the
    model's next-token distribution, which is what logit distillation collects. Without text
    the two cannot be told apart: then only logit bias (looking past the top-k) or near-identical
    probes make it more than medium."""
    if p.events < 30:
        return None
    share = max(f["tiny_logprob_share"], f["recent_tiny_logprob_share"])
    bias = ramp(f["logit_bias_share"], 0.1, 0.4)
    if p.with_text * 2 >= p.events:
        open_share = max(f["open_probe_share"], f["recent_tiny_logprob_share"])
        strength = max(ramp(open_share, 0.2, 0.6), bias * ramp(share, 0.2, 0.6))
        what = f"{open_share:.0%} of requests read logprobs of open text over a handful of tokens"
    else:
        # Probes of public items (a benchmark's prompts, which other accounts send too) are a
        # harness's reads of its choices, the text-free kin of closed questions.
        similar = max(f["near_duplicate_share"], f["templated_share"] * f["unique_prompt_share"])
        public = ramp(f["public_probe_share"], 0.3, 0.8)
        strength = ramp(share, 0.2, 0.6) * max(bias, 0.5 * ramp(similar, 0.1, 0.4) * (1 - public))
        what = (f"{share:.0%} of requests read logprobs over a handful of tokens "
                f"({f['public_probe_share']:.0%} of them of prompts other accounts send too)")
    if strength == 0:
        return None
    return Reason("logprob_harvesting",
                  f"{what} ({p.tiny_max_tokens_logprobs} of {p.events} probes, "
                  f"{p.choice_probes} of closed questions), "
                  f"{f['logit_bias_share']:.0%} with logit_bias", strength,
                  {"tiny_logprob_share": share, "logit_bias_share": f["logit_bias_share"]})


def soft_label_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Answers taken with their top logprobs: the teacher's distribution over every token of a
    harvested answer (soft-label distillation). Benign logprob reads are of labels and choices
    (probes), or of answers grounded in a long prompt; these are answers at least as long as a
    prompt that is no conversation."""
    if p.events < 30:
        return None
    share = f["soft_label_share"]
    strength = ramp(confident_share(p.soft_labels, p.events), 0.1, 0.4)
    if strength == 0:
        return None
    return Reason("soft_label_harvesting",
                  f"{share:.0%} of requests take the top logprobs of whole answers "
                  f"({p.soft_labels} of {p.events})", strength,
                  {"soft_label_share": share})


def extraction_shape(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """A large share of requests are extraction-shaped: single-turn (or short, with the turn
    count unknown) prompts whose visible answer is longer than three quarters of this
    deployment's answers and at least twice the prompt. Long answers to reasoning asks are not
    counted here (that is what the asks are for: reasoning_elicitation judges them)."""
    if p.events < 30:
        return None
    share = max(f["shaped_share"], f["recent_shaped_share"])
    # The share shown with confidence (small accounts: a wide interval), not a volume ramp.
    # Without text, long answers to reasoning asks (a chain-of-thought benchmark) cannot be set
    # apart: unknown is not taken for harvesting, so more of the account must be shaped, and it
    # stays medium with any amount of context (0.8 x 0.85 = 68; context adds at most 35% of the
    # rest: 79): a single run of a zero-shot chain-of-thought benchmark over items nobody else
    # sends looks exactly like a response harvest, and automation, account age and the river
    # models describe both. An alert needs behaviour or a link (a sub-stream, a campaign).
    # A benchmark run (its prompts public items, or its own again) halves it.
    with_text = p.with_text * 2 >= p.events
    low, high = (0.2, 0.6) if with_text else (0.4, 0.8)
    run = 0.0 if with_text else benchmark_run(f)
    strength = ramp(max(f["shaped_confident"], f["recent_shaped_share"] * ramp(p.events, 64, 128)),
                    low, high) * (1.0 if with_text else TEXT_FREE_SHAPE * (1 - 0.5 * run))
    if strength == 0:
        return None
    run_text = (f"; {f['public_share']:.0%} of its prompts other accounts send too, "
                f"{f['unique_prompt_share']:.0%} unique" if run else "")
    return Reason("extraction_shape",
                  f"{share:.0%} of requests are short single-turn prompts with long answers "
                  f"(longer than 3/4 of this deployment's; {p.shaped_requests} of {p.events}"
                  f", {p.shaped_unknown} more with unknown turns); "
                  f"{p.output_tokens / max(p.input_tokens, 1):.1f} output tokens per input token"
                  f"{run_text}", strength, {"shaped_share": share,
                                             "shaped_requests": p.shaped_requests})


def shaped_minority(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Camouflage that no sub-stream separates: a steady minority of extraction-shaped requests
    inside ordinary traffic. A chat product's single-turn questions look the same, so this
    corroborates (medium at most), it never alerts alone."""
    shaped = p.shaped_requests + p.shaped_unknown
    if shaped < 4 or f["shaped_share"] >= 0.2:  # from 0.2 on, extraction_shape speaks
        return None
    # Essay-long answers to reasoning asks are shaped too; where asks dominate they are a
    # chain-of-thought harness's long tail, judged by reasoning_elicitation.
    strength = ramp(shaped, 4, 16) * ramp(f["shaped_share"], 0.05, 0.15) * (1 - f["reasoning_share"])
    if strength == 0:
        return None
    return Reason("extraction_minority",
                  f"{shaped} extraction-shaped requests ({f['shaped_share']:.0%}) "
                  "mixed into otherwise ordinary traffic", strength,
                  {"shaped_requests": shaped, "shaped_share": f["shaped_share"]})


def reasoning_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.with_text < 30:
        return None
    share = max(f["reasoning_share"], f["recent_reasoning_share"])
    unique = f["unique_prompt_share"]
    strength = ramp(share, 0.25, 0.6) * ramp(unique, 0.6, 0.9) * ramp(p.with_text, 30, 80)
    if strength == 0:
        return None
    return Reason("reasoning_elicitation",
                  f"{share:.0%} of prompts ask for step-by-step reasoning "
                  f"({p.reasoning_asks} of {p.with_text}), {unique:.0%} unique", strength,
                  {"reasoning_share": share, "unique_prompt_share": unique})


def multilingual_reasoning(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Reasoning or long answers asked for in several languages or writing systems: a sweep,
    not a user. Languages come from the reasoning phrase and from the script of the text, so
    any number of languages counts; the ramp does not stop at any fixed count. A product with
    users in many languages has them too, so it counts only where reasoning asks or
    extraction-shaped requests are a large share of the account."""
    languages = int(max(f["reasoning_languages"], f["scripts"]))
    asks = max(f["reasoning_share"], f["shaped_share"])
    # Two languages is a bilingual user base, not a sweep. From three on, graded without a
    # ceiling: each further language halves what is left (3: 0.5, 4: 0.75, 6: 0.94).
    strength = (1 - 0.5 ** (languages - 2) if languages > 2 else 0.0) * ramp(asks, 0.2, 0.5)
    strength *= ramp(p.events, 20, 60)
    if strength == 0:
        return None
    return Reason("multilingual_reasoning_sweep",
                  f"asks for reasoning or long answers in {languages} languages or scripts "
                  f"({p.reasoning_asks} reasoning asks, {asks:.0%} of requests)", strength,
                  {"reasoning_languages": languages, "reasoning_asks": p.reasoning_asks})


def behaviour_drift(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Against the account's own baseline (its recent window at its 50th request, or later:
    once the window was judged by learned cut-offs). What is "extraction-shaped" moves with the
    population's cut-offs while they settle (every account of a fresh replay drifts a little),
    so the recent share must also be large on its own, and the baseline low."""
    name, before, now = drift(p)
    # A turn, from ordinary to extraction: an account already partly shaped at its baseline
    # (a chain-of-thought benchmark whose answers sit near the cut-off) only moved with it.
    strength = ramp(now - before, 0.25, 0.6) * ramp(now, 0.4, 0.7) * (1 - ramp(before, 0.1, 0.3))
    if strength == 0:
        return None
    return Reason("behaviour_drift",
                  f"{name} requests rose from {before:.0%} (the account's baseline) to "
                  f"{now:.0%} (last ~64)", strength, {"before": before, "now": now})


def templated_sweep(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """One template filled with ever-new items for long answers (self-instruct, "write a
    detailed answer about {topic}"). Harnesses, labellers and batch jobs fill templates too, for
    labels, summaries or chain-of-thought: so the long answers counted are the extraction-shaped
    ones (reasoning asks are not)."""
    if p.with_prompt_hash < 100:
        return None
    templated, unique = f["templated_share"], f["unique_prompt_share"]
    long_answers = ramp(f["shaped_share"], 0.1, 0.4)
    strength = ramp(templated, 0.3, 0.7) * ramp(unique, 0.7, 0.95) * long_answers
    # A few-shot benchmark is one template too (its exemplars), filled with a public item set:
    # its prompts are those other accounts running it send, and they ask for the steps.
    strength *= ramp(p.events, 100, 400) * (1 - ramp(f["public_share"], 0.5, 0.9)) * (
        1 - f["reasoning_share"])
    if strength == 0:
        return None
    return Reason("templated_sweep",
                  f"{templated:.0%} of prompts reuse a template, {unique:.0%} unique",
                  strength, {"templated_share": templated, "unique_prompt_share": unique})


def around_the_clock(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 200 or p.last_ts - p.first_ts < DAY_S * 0.75:
        return None
    # Regular, not merely busy: Poisson arrivals have gap_regularity 0 (burstiness 0).
    strength = ramp(f["hour_entropy"], 0.9, 0.98) * ramp(f["gap_regularity"], 0.3, 0.7)
    if strength == 0:
        return None
    return Reason("scripted_around_the_clock",
                  f"active in all hours (hour entropy {f['hour_entropy']:.2f}) with machine-"
                  f"regular gaps ({f['gap_regularity']:.2f})", strength,
                  {"hour_entropy": f["hour_entropy"], "gap_regularity": f["gap_regularity"]})


def quota_hugging(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Requests per minute held flat just under a ceiling, minute after minute."""
    if f["active_minutes"] < 60 or p.minute_max < 5:
        return None
    strength = ramp(f["minute_fill"], 0.75, 0.9) * ramp(0.35 - f["minute_cv"], 0.0, 0.2)
    if strength == 0:
        return None
    return Reason("rate_held_under_quota",
                  f"{f['active_minutes']:.0f} active minutes averaging {f['minute_fill']:.0%} of "
                  f"the peak ({p.minute_max}/min), variation {f['minute_cv']:.2f}", strength,
                  {"minute_fill": f["minute_fill"], "minute_cv": f["minute_cv"]})


def logit_bias_probing(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 30:
        return None
    strength = ramp(f["logit_bias_share"], 0.1, 0.5)
    if strength == 0:
        return None
    return Reason("logit_bias_probing",
                  f"{f['logit_bias_share']:.0%} of {p.events} requests set logit_bias", strength,
                  {"logit_bias_share": f["logit_bias_share"]})


def new_account(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    age = f["account_age_days"]
    if age < 0 or age > 7 or p.events < 50:
        return None
    strength = ramp(p.events, 50, 150) * ramp(7 - age, 0, 5)
    if strength == 0:
        return None
    return Reason("new_account_volume",
                  f"account {age:.1f} days old has already sent {p.events} requests", strength,
                  {"account_age_days": age, "events": p.events})


def release_chasing(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    if p.events < 100:
        return None
    strength = ramp(f["new_model_share"], 0.5, 0.9)
    if strength == 0:
        return None
    return Reason("release_chasing",
                  f"{f['new_model_share']:.0%} of requests go to a model released in the last "
                  "7 days", strength, {"new_model_share": f["new_model_share"]})


def agentic_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Tool-use episodes with ever-changing tool sets or system prompts: trajectories being
    collected over many environments, not one product's agent (which offers the same few tools
    under the same system prompt every time). A varying tool count under one system prompt (the
    cheapest evasion of the first mark) still counts, at most at medium strength."""
    if p.events < 30:
        return None
    variety = tool_variety(f)
    strength = ramp(f["tool_share"], 0.3, 0.7) * variety * ramp(p.events, 30, 100)
    if strength == 0:
        return None
    return Reason("agentic_harvesting",
                  f"{f['tool_share']:.0%} of requests are tool-use episodes with "
                  f"{f['tool_set_sizes']:.0f} different tool-set sizes and "
                  f"{f['distinct_system_share']:.0%} distinct system prompts", strength,
                  {"tool_share": f["tool_share"], "tool_set_sizes": f["tool_set_sizes"]})


def judge_harvesting(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """Judge / rubric prompts in bulk over ever-new items: reward-model labels being harvested.
    With text, the grammar of grading; without it, the public recipes' own mark: a pairwise
    comparison asked twice, the two answers swapped (position-bias debiasing), so the same words
    and length come back as a new prompt, each time with an answer."""
    if p.events < 30:
        return None
    # The share shown with confidence, not a volume ramp: 60 judge prompts of 60 are sure.
    unique = ramp(f["unique_prompt_share"], 0.5, 0.9)
    graded = (ramp(confident_share(p.grading_prompts, p.with_text), 0.2, 0.6)
              if p.with_text >= 30 else 0.0)
    swapped = swapped_pairs(f) * ramp(p.events, 30, 60)
    strength = max(graded, swapped) * unique
    if strength == 0:
        return None
    if graded >= swapped:
        what = (f"{f['grading_share']:.0%} of prompts ask to grade or compare answers "
                f"({p.grading_prompts} of {p.with_text})")
    else:
        what = (f"{f['reordered_share']:.0%} of requests ask again a recent prompt reordered "
                f"(a pairwise judgment in both orders; {p.reordered} of {p.events})")
    return Reason("judge_harvesting", f"{what}, {f['unique_prompt_share']:.0%} unique",
                  strength, {"grading_share": f["grading_share"],
                             "reordered_share": f["reordered_share"]})


def substream_extraction(p: AccountProfile, f: dict[str, float]) -> Reason | None:
    """One API key (with the client's settings), system prompt, hour block or end user (or the
    requests without one) of the account is mostly harvest-like while the rest of the account
    is not: a harvesting key, a night job or a script inside a product. Where the product itself
    asks for steps (a tutoring app: every request harvest-like by its ask), sub-streams are also
    compared by what is harvest-like beyond the asks (shaped answers, open-text probes, grading,
    reordered prompts). A sub-stream whose harvest-like requests are reasoning asks only (an
    evaluation key running a chain-of-thought benchmark beside a product) counts for less:
    reasoning asks alone are medium at most. A benchmark asks for steps in every item, so the
    discount fades where a good part of the sub-stream's harvest is something else (long
    answers to plain prompts): a harvest that asks for steps only some of the time."""
    span = p.last_ts - p.first_ts
    best: tuple[float, tuple, bool] | None = None
    for beyond in (False, True) if p.reasoning_only else (False,):
        found = most_extractive(p.substreams, 12, p.events,
                                p.extractive - (p.reasoning_only if beyond else 0), span, beyond)
        _, _, share, n, rest, rest_n, reasoning = found
        if rest_n < 12:
            continue
        # Judged like an account of its own (extraction_shape's bar, on the share shown with
        # confidence: 18 of 18 is surer than 9 of 12), and only where the rest is clearly apart.
        sure = confident_share(share * n, n)
        strength = ramp(sure, 0.15, 0.45) * ramp(sure - rest, 0.2, 0.45) * (
            1.0 - 0.3 * ramp(reasoning, 0.5, 0.9))
        if strength > 0 and (best is None or strength > best[0]):
            best = (strength, found, beyond)
    if best is None:
        return None
    strength, (where, _, share, n, rest, _, _), beyond = best
    what = "harvest-like beyond a reasoning ask" if beyond else "harvest-like"
    return Reason("substream_extraction",
                  f"{where} carries {n} requests, {share:.0%} of them {what}, "
                  f"against {rest:.0%} for the rest of the account", strength,
                  {"substream_share": share, "substream_events": n, "rest_share": rest})


RULES: dict[str, tuple[Rule, float]] = {
    # name: (rule, weight: how much of the 0..100 risk this behaviour alone can justify)
    # A single strong-looking signal that honest users also show (reasoning asks: tutoring,
    # chain-of-thought benchmarks; many languages) is capped at medium (< 80) on its own.
    "logprob_harvesting": (logprob_harvesting, 0.97),
    "soft_label_harvesting": (soft_label_harvesting, 0.9),
    "reasoning_elicitation": (reasoning_harvesting, 0.6),
    "multilingual_reasoning_sweep": (multilingual_reasoning, 0.6),
    "extraction_shape": (extraction_shape, 0.85),
    "extraction_minority": (shaped_minority, 0.5),
    "substream_extraction": (substream_extraction, 0.9),
    "agentic_harvesting": (agentic_harvesting, 0.9),
    "judge_harvesting": (judge_harvesting, 0.85),
    "behaviour_drift": (behaviour_drift, 0.6),
    "templated_sweep": (templated_sweep, 0.85),
    "logit_bias_probing": (logit_bias_probing, 0.6),
    # Batch jobs, harnesses and labellers are scripted too: timing alone says little.
    "scripted_around_the_clock": (around_the_clock, 0.3),
    "rate_held_under_quota": (quota_hugging, 0.3),
    "new_account_volume": (new_account, 0.35),
    "release_chasing": (release_chasing, 0.35),
}


# Signal families, for the eval's ablation rows (EngineConfig.disabled). "groups" (the
# cross-account stage), the river models ("peers": HalfSpaceTrees, "verdicts": the logistic
# model taught by the rules' confident verdicts, "river": both), "norms" (population
# thresholds; off = the conservative prior) and "items" (the population's sketch of prompts
# other accounts send) are switched off in the engine.
FAMILIES: dict[str, tuple[str, ...]] = {
    "shape": ("extraction_shape", "extraction_minority"),
    "substreams": ("substream_extraction",),
    "text": ("reasoning_elicitation", "multilingual_reasoning_sweep", "judge_harvesting",
             "templated_sweep"),
    "probes": ("logprob_harvesting", "logit_bias_probing", "soft_label_harvesting"),
    "agentic": ("agentic_harvesting",),
    "timing": ("scripted_around_the_clock", "rate_held_under_quota"),
    "account": ("new_account_volume", "release_chasing", "behaviour_drift"),
    "groups": (), "peers": (), "verdicts": (), "river": (), "norms": (), "items": (),
}
