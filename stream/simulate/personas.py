"""Personas: what one simulated account sends. Each returns (timestamp, request) pairs.

A request is a dict of the contract's fields minus ids and hashes, which `generator` adds.
Benign personas include hard negatives that share surface traits with attacks (eval harnesses
read logprobs; batch pipelines run templated prompts around the clock).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from stream.simulate import timing
from stream.simulate.vocabulary import (
    CHAT_OPENERS,
    CHAT_TOPICS,
    CODE_TASKS,
    CODE_THINGS,
    LANG_PHRASES,
    SKILLS,
    SUBJECTS,
)

Request = dict
Persona = Callable[[random.Random, int, float, float], list[tuple[float, Request]]]


@dataclass(frozen=True)
class PersonaSpec:
    fn: Persona
    attack: bool
    volume: float  # relative number of requests per account


def _words(rng: random.Random, k: int) -> str:
    return " ".join(rng.choice(SUBJECTS).split()[0] + rng.choice("aeiou") for _ in range(k))


def chat_backend(rng, n, start, duration):
    out = []
    for ts in timing.diurnal(rng, n, start, duration):
        text = f"{rng.choice(CHAT_OPENERS)} {rng.choice(CHAT_TOPICS)} {_words(rng, rng.randint(3, 25))}"
        out.append((ts, {
            "user_id": f"u-{rng.randrange(5000)}", "text": text, "messages": rng.randint(1, 12),
            "input_tokens": rng.randint(30, 2500), "output_tokens": rng.randint(40, 700),
            "params": {"temperature": rng.choice([0.7, 1.0, 0.8]), "stream": True,
                       "max_tokens": 1024}}))
    return out


def batch_pipeline(rng, n, start, duration):
    system = "You summarise documents for the records team."
    out = []
    for ts in timing.uniform(rng, n, start, duration):
        text = f"Summarise the following document in five bullet points. {_words(rng, 120)}"
        out.append((ts, {
            "text": text, "system": system, "messages": 1, "input_tokens": rng.randint(1500, 8000),
            "output_tokens": rng.randint(80, 300), "params": {"temperature": 0, "max_tokens": 400}}))
    return out


def coding_assistant(rng, n, start, duration):
    out = []
    for ts in timing.diurnal(rng, n, start, duration, peak_hour=13, width=2.5):
        text = f"{rng.choice(CODE_TASKS)} {rng.choice(CODE_THINGS)} {_words(rng, rng.randint(10, 60))}"
        out.append((ts, {
            "user_id": f"dev-{rng.randrange(40)}", "text": text, "messages": rng.randint(2, 30),
            "input_tokens": rng.randint(800, 12000), "output_tokens": rng.randint(50, 1500),
            "params": {"temperature": 0.2, "stream": True, "tools": rng.randint(3, 10)}}))
    return out


def hobbyist(rng, n, start, duration):
    return [(ts, {"text": f"{rng.choice(CHAT_OPENERS)} {_words(rng, rng.randint(2, 12))}",
                  "messages": rng.randint(1, 4), "input_tokens": rng.randint(10, 400),
                  "output_tokens": rng.randint(20, 600), "params": {"temperature": 1.0}})
            for ts in timing.diurnal(rng, n, start, duration, peak_hour=20, width=3)]


def eval_harness(rng, n, start, duration):
    """Multiple-choice benchmark: logprobs of a one-token answer, the same questions rerun."""
    pool = [f"Question about {rng.choice(SUBJECTS)}: {_words(rng, 20)}\nA) {_words(rng, 3)} "
            f"B) {_words(rng, 3)} C) {_words(rng, 3)} D) {_words(rng, 3)}\nAnswer:"
            for _ in range(max(20, n // 4))]
    return [(ts, {"text": rng.choice(pool), "messages": 1, "input_tokens": rng.randint(80, 400),
                  "output_tokens": 1, "params": {"temperature": 0, "max_tokens": 1,
                                                 "logprobs": True, "top_logprobs": 5}})
            for ts in timing.bursts(rng, n, start, duration)]


def bulk_distiller(rng, n, start, duration):
    """Broad sweep of subjects, skills and languages with reasoning elicitation, long answers."""
    templates = [
        "{skill} the following problem in {subject}. {phrase}. {body}",
        "You are an expert in {subject}. {phrase}: {skill} {body}",
        "{phrase}. Task ({subject}): {skill} {body}",
    ]
    out = []
    for ts in timing.scripted(rng, n, start, duration, jitter=0.3):
        lang = rng.choice(list(LANG_PHRASES))
        text = rng.choice(templates).format(
            skill=rng.choice(SKILLS), subject=rng.choice(SUBJECTS), phrase=LANG_PHRASES[lang],
            body=_words(rng, rng.randint(4, 12)))
        out.append((ts, {
            "text": text, "messages": 1, "input_tokens": rng.randint(40, 200),
            "output_tokens": rng.randint(800, 4000), "reasoning_tokens": rng.randint(0, 2000),
            "params": {"temperature": rng.choice([0.6, 0.7]), "max_tokens": 4096}}))
    return out


def logprob_harvester(rng, n, start, duration):
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


PERSONAS: dict[str, PersonaSpec] = {
    "chat_backend": PersonaSpec(chat_backend, False, 3.0),
    "batch_pipeline": PersonaSpec(batch_pipeline, False, 6.0),
    "coding_assistant": PersonaSpec(coding_assistant, False, 2.0),
    "hobbyist": PersonaSpec(hobbyist, False, 0.1),
    "eval_harness": PersonaSpec(eval_harness, False, 4.0),
    "bulk_distiller": PersonaSpec(bulk_distiller, True, 5.0),
    "logprob_harvester": PersonaSpec(logprob_harvester, True, 4.0),
}
