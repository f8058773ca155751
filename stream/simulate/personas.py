"""Personas: what one simulated account sends. Each returns (timestamp, request) pairs.

A request is a dict of the contract's fields minus ids and hashes, which `generator` adds, plus
`text`/`system` (hashed there, dropped in text-free mode). Benign personas include hard
negatives that share surface traits with attacks: eval harnesses read one-token logprobs and
rerun systematic prompts; batch pipelines run one template around the clock at temperature 0.
`ctx` carries what a group of accounts shares (a hydra campaign's templates and topic slice).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from distillguard.stream.simulate import timing
from distillguard.stream.simulate.vocabulary import (
    CHAT_OPENERS,
    CHAT_TOPICS,
    CODE_TASKS,
    CODE_THINGS,
    LANG_PHRASES,
    SKILLS,
    SUBJECTS,
)

Request = dict
Rows = list[tuple[float, Request]]
Persona = Callable[[random.Random, int, float, float, dict], Rows]

DISTILL_TEMPLATES = [
    "{skill} the following problem in {subject}. {phrase}. {body}",
    "You are an expert in {subject}. {phrase}: {skill} {body}",
    "{phrase}. Task ({subject}): {skill} {body}",
    "Question on {subject} - {skill}: {body}. {phrase}, then give the final answer.",
]


@dataclass(frozen=True)
class PersonaSpec:
    fn: Persona
    attack: bool
    volume: float  # relative number of requests per account


def _words(rng: random.Random, k: int) -> str:
    return " ".join(rng.choice(SUBJECTS).split()[0] + rng.choice("aeiou") for _ in range(k))


def _chat_request(rng: random.Random) -> Request:
    text = f"{rng.choice(CHAT_OPENERS)} {rng.choice(CHAT_TOPICS)} {_words(rng, rng.randint(3, 25))}"
    if rng.random() < 0.03:  # ordinary people ask for steps now and then
        text += " step by step"
    return {"user_id": f"u-{rng.randrange(5000)}", "text": text, "messages": rng.randint(1, 12),
            "input_tokens": rng.randint(30, 2500), "output_tokens": rng.randint(40, 900),
            "params": {"temperature": rng.choice([0.7, 1.0, 0.8]), "stream": True,
                       "max_tokens": 1024}}


def _distill_request(rng: random.Random, templates: list[str], subjects: list[str],
                     languages: list[str]) -> Request:
    lang = rng.choice(languages)
    text = rng.choice(templates).format(
        skill=rng.choice(SKILLS), subject=rng.choice(subjects), phrase=LANG_PHRASES[lang],
        body=_words(rng, rng.randint(4, 12)))
    return {"text": text, "messages": 1, "input_tokens": rng.randint(40, 200),
            "output_tokens": rng.randint(800, 4000), "reasoning_tokens": rng.randint(0, 2000),
            "params": {"temperature": rng.choice([0.6, 0.7]), "max_tokens": 4096}}


def chat_backend(rng, n, start, duration, ctx):
    return [(ts, _chat_request(rng)) for ts in timing.diurnal(rng, n, start, duration)]


def batch_pipeline(rng, n, start, duration, ctx):
    system = "You summarise documents for the records team."
    return [(ts, {"text": f"Summarise the following document in five bullet points. "
                          f"{_words(rng, 120)}", "system": system, "messages": 1,
                  "input_tokens": rng.randint(1500, 8000), "output_tokens": rng.randint(80, 300),
                  "params": {"temperature": 0, "max_tokens": 400}})
            for ts in timing.uniform(rng, n, start, duration)]


def coding_assistant(rng, n, start, duration, ctx):
    out = []
    for ts in timing.diurnal(rng, n, start, duration, peak_hour=13, width=2.5):
        text = f"{rng.choice(CODE_TASKS)} {rng.choice(CODE_THINGS)} {_words(rng, rng.randint(10, 60))}"
        out.append((ts, {
            "user_id": f"dev-{rng.randrange(40)}", "text": text, "messages": rng.randint(2, 30),
            "input_tokens": rng.randint(800, 12000), "output_tokens": rng.randint(50, 1500),
            "params": {"temperature": 0.2, "stream": True, "tools": rng.randint(3, 10)}}))
    return out


def rag_app(rng, n, start, duration, ctx):
    """Long retrieved context, short answers, one fixed system prompt."""
    system = "Answer only from the provided context. Cite the passage."
    return [(ts, {"text": f"Context: {_words(rng, 80)}\nQuestion: {rng.choice(CHAT_OPENERS)} "
                          f"{_words(rng, 6)}", "system": system, "messages": 2,
                  "input_tokens": rng.randint(3000, 12000), "output_tokens": rng.randint(30, 250),
                  "params": {"temperature": 0.1, "max_tokens": 300}})
            for ts in timing.diurnal(rng, n, start, duration, peak_hour=11, width=4)]


def agent_framework(rng, n, start, duration, ctx):
    """Tool loops: many turns, tool calls, bursts of quick follow-ups."""
    system = "You are an autonomous agent. Use tools to complete the task."
    out = []
    for ts in timing.bursts(rng, n, start, duration, n_bursts=12, burst_s=900):
        out.append((ts, {"text": f"Observation: {_words(rng, rng.randint(5, 40))}. Next action?",
                         "system": system, "messages": rng.randint(4, 60),
                         "input_tokens": rng.randint(2000, 20000),
                         "output_tokens": rng.randint(20, 400), "finish_reason": "tool_calls",
                         "params": {"temperature": 0, "tools": rng.randint(5, 25)}}))
    return out


def hobbyist(rng, n, start, duration, ctx):
    return [(ts, {"text": f"{rng.choice(CHAT_OPENERS)} {_words(rng, rng.randint(2, 12))}",
                  "messages": rng.randint(1, 4), "input_tokens": rng.randint(10, 400),
                  "output_tokens": rng.randint(20, 600), "params": {"temperature": 1.0}})
            for ts in timing.diurnal(rng, n, start, duration, peak_hour=20, width=3)]


def eval_harness(rng, n, start, duration, ctx):
    """Multiple-choice benchmark across subjects: one-token logprobs, the same questions rerun."""
    pool = [f"Question about {rng.choice(SUBJECTS)}: {_words(rng, 20)}\nA) {_words(rng, 3)} "
            f"B) {_words(rng, 3)} C) {_words(rng, 3)} D) {_words(rng, 3)}\nAnswer:"
            for _ in range(max(20, n // 4))]
    return [(ts, {"text": rng.choice(pool), "messages": 1, "input_tokens": rng.randint(80, 400),
                  "output_tokens": 1, "params": {"temperature": 0, "max_tokens": 1,
                                                 "logprobs": True, "top_logprobs": 5}})
            for ts in timing.bursts(rng, n, start, duration)]


def bulk_distiller(rng, n, start, duration, ctx):
    """Broad sweep of subjects, skills and languages with reasoning elicitation, long answers."""
    return [(ts, _distill_request(rng, DISTILL_TEMPLATES[:3], SUBJECTS, list(LANG_PHRASES)))
            for ts in timing.scripted(rng, n, start, duration, jitter=0.3)]


def reasoning_harvester(rng, n, start, duration, ctx):
    """Harvests reasoning traces: asks the model to expose its full thinking, reasoning model."""
    asks = ["Think through this carefully and explain your reasoning in full before answering",
            "Walk me through your reasoning, every intermediate step",
            "Show your reasoning; do not skip any step"]
    out = []
    for ts in timing.uniform(rng, n, start, duration):
        text = (f"{rng.choice(asks)}. {rng.choice(SKILLS)} this {rng.choice(SUBJECTS)} problem: "
                f"{_words(rng, rng.randint(8, 30))}")
        out.append((ts, {"text": text, "messages": 1, "input_tokens": rng.randint(60, 400),
                         "output_tokens": rng.randint(1500, 6000),
                         "reasoning_tokens": rng.randint(2000, 12000),
                         "params": {"temperature": 1.0, "max_tokens": 16000}}))
    return out


def logprob_harvester(rng, n, start, duration, ctx):
    """Near-duplicate prompts, one to five tokens out, full top-logprobs, often logit bias."""
    bases = [f"Complete: {_words(rng, 12)}" for _ in range(max(5, n // 40))]
    out = []
    for ts in timing.scripted(rng, n, start, duration, jitter=0.2):
        base = rng.choice(bases).split()
        base[rng.randrange(1, len(base))] = _words(rng, 1)
        params = {"temperature": 0, "max_tokens": rng.randint(1, 5), "logprobs": True,
                  "top_logprobs": 20}
        if rng.random() < 0.6:
            params["logit_bias"] = rng.randint(10, 300)
        out.append((ts, {"text": " ".join(base), "messages": 1, "input_tokens": rng.randint(10, 60),
                         "output_tokens": params["max_tokens"], "params": params}))
    return out


def camouflaged(rng, n, start, duration, ctx):
    """Slow-and-low: a real-looking chat app; only 10-30% of requests are the sweep, jittered."""
    share = ctx.get("attack_share") or rng.uniform(0.1, 0.3)
    n_attack = max(1, round(n * share))
    rows = [(ts, _chat_request(rng)) for ts in timing.diurnal(rng, n - n_attack, start, duration)]
    langs = rng.sample(list(LANG_PHRASES), 3)
    rows += [(ts, _distill_request(rng, DISTILL_TEMPLATES, SUBJECTS, langs))
             for ts in timing.uniform(rng, n_attack, start, duration)]
    return sorted(rows, key=lambda r: r[0])


def hydra_member(rng, n, start, duration, ctx):
    """One of many new accounts of one campaign: shared templates, its own slice of topics."""
    return [(ts, _distill_request(rng, ctx["templates"], ctx["subjects"], ctx["languages"]))
            for ts in timing.uniform(rng, n, start, duration)]


def turns_bad(rng, n, start, duration, ctx):
    """A long-standing customer account that starts distilling at `ctx['attack_start']`."""
    switch = ctx["attack_start"]
    before = max(1, round(n * (switch - start) / duration * 0.5))
    rows = [(ts, _chat_request(rng)) for ts in timing.diurnal(rng, before, start, switch - start)]
    rows += [(ts, _distill_request(rng, DISTILL_TEMPLATES, SUBJECTS, list(LANG_PHRASES)))
             for ts in timing.scripted(rng, n - before, switch, start + duration - switch, 0.3)]
    return rows


PERSONAS: dict[str, PersonaSpec] = {
    "chat_backend": PersonaSpec(chat_backend, False, 3.0),
    "batch_pipeline": PersonaSpec(batch_pipeline, False, 6.0),
    "coding_assistant": PersonaSpec(coding_assistant, False, 2.0),
    "rag_app": PersonaSpec(rag_app, False, 3.0),
    "agent_framework": PersonaSpec(agent_framework, False, 4.0),
    "hobbyist": PersonaSpec(hobbyist, False, 0.1),
    "eval_harness": PersonaSpec(eval_harness, False, 4.0),
    "bulk_distiller": PersonaSpec(bulk_distiller, True, 5.0),
    "reasoning_harvester": PersonaSpec(reasoning_harvester, True, 3.0),
    "logprob_harvester": PersonaSpec(logprob_harvester, True, 4.0),
    "camouflaged": PersonaSpec(camouflaged, True, 1.5),
    "turns_bad": PersonaSpec(turns_bad, True, 3.0),
    "hydra_member": PersonaSpec(hydra_member, True, 0.0),  # planned per campaign, not by share
}
