"""Generate the behaviour cases once, from the simulator with fixed seeds and the built-in
vocabulary (no corpus text): `python -m tests.cases.make_cases`. Each case is a folder with
events.jsonl (the case's accounts plus a small benign background, so population thresholds
and the group stage's rarity weighting have something to learn from) and expected.json (the
outcome per account: "min_risk" for attacks that must alert, "max_risk" for honest traffic
that must not, both for "medium, not high")."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from distillguard.stream.simulate import recipes
from distillguard.stream.simulate.corpus import TextSource
from distillguard.stream.simulate.generator import (
    DEFAULT_START,
    SimAccount,
    SimConfig,
    _account_events,
    _corpus_envelope,
    _weak_campaign,
)

HERE = Path(__file__).parent
BACKGROUND = ["real_chat", "labelling_app", "rag_app", "coding_agent", "batch_summariser",
              "real_chat", "tutoring_app", "bench_plain"]


def _account(rng, persona, n, attack, ctx_extra=None, new=False) -> SimAccount:
    ctx = _corpus_envelope(rng, persona) | (ctx_extra or {})
    created = DEFAULT_START - (rng.uniform(0.5, 5) if new else rng.uniform(60, 900)) * 86400
    return SimAccount(f"acct_{persona}_{rng.getrandbits(20):05x}", persona, attack, n, created,
                      DEFAULT_START if attack else None, ctx)


def _judge_source() -> TextSource:
    """Built-in words, plus judge templates and answer pairs written here (our own words, in
    the usual shape of LLM-as-judge prompts), for the judge-harvesting case."""
    src = TextSource(None)
    rng = random.Random(5)
    src.side["judge"] = [
        {"name": "pair", "system_prompt": "You compare two assistants' answers impartially.",
         "prompt_template": "[Question]\n{question}\n\n[Response A]\n{answer_a}\n\n"
                            "[Response B]\n{answer_b}\n\nWhich response is better? Reply "
                            "[[A]], [[B]] or [[C]] for a tie, after a short explanation."},
        {"name": "single", "system_prompt": "You are a strict grader.",
         "prompt_template": "Evaluate the response below for helpfulness and accuracy and "
                            "rate it on a scale of 1 to 10 as [[rating]].\n\nQuestion: "
                            "{question}\n\nResponse: {answer}"}]
    src.raw["pairs"] = [{"question": src.sample("chat", rng), "answer_a": src.sample("web", rng),
                         "answer_b": src.sample("web", rng)} for _ in range(400)]
    return src


def _mmlu_source() -> TextSource:
    """Built-in words, plus multiple-choice items of our own words (subject, question, four
    choices), so a harness can rotate an item's options (CircularEval)."""
    src = TextSource(None)
    rng = random.Random(6)
    src.raw["mmlu"] = [{"subject": rng.choice(["algebra", "anatomy", "law"]),
                        "question": src.sample("mmlu", rng),
                        "choices": [src.sample("chat", rng)[:40] for _ in range(4)],
                        "answer": rng.randrange(4)} for _ in range(500)]
    return src


def write_case(name: str, seed: int, accounts: list[SimAccount], checks: list[dict],
               text: bool = True) -> None:
    rng = random.Random(seed)
    cfg = SimConfig(seed=seed, hours=24.0, text=text)
    src = (_judge_source() if name.startswith("judge") else
           _mmlu_source() if name.startswith("mmlu") else TextSource(None))
    background = [_account(rng, p, rng.randint(35, 60), False) for p in BACKGROUND]
    rows = []
    for a in background + accounts:
        rows += _account_events(cfg, a, random.Random(rng.getrandbits(64)), src)
    rows.sort(key=lambda r: (r[0], r[1]))
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    with (folder / "events.jsonl").open("w") as fh:
        for _, _, event in rows:
            for field in ("latency_ms", "country", "status_code", "endpoint"):
                event.pop(field, None)
            if "text" in event["prompt"]:
                event["prompt"].pop("sha256", None)  # derived from the text on intake
            fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    expected = {"checks": checks + [{"account": a.account_id, "max_risk": 79,
                                     "why": f"background {a.persona}"} for a in background]}
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def single(name: str, seed: int, persona: str, n: int, attack: bool, check: dict,
           text: bool = True, ctx: dict | None = None, new: bool = False) -> None:
    rng = random.Random(seed * 7)
    a = _account(rng, persona, n, attack, ctx, new)
    write_case(name, seed, [a], [{"account": a.account_id, **check}], text)


def main() -> None:
    # false alarms of the issue: honest traffic that looks like an attack on one trait
    single("bench_cot_harness", 11, "bench_cot", 300, False, {"max_risk": 79})
    single("hobbyist_benchmark_script", 12, "hobbyist_bench", 250, False, {"max_risk": 79})
    single("tutoring_step_by_step", 13, "tutoring_app", 300, False, {"max_risk": 79})
    single("labelling_app", 14, "labelling_app", 300, False, {"max_risk": 49})
    single("mmlu_logprob_harness", 15, "bench_mmlu", 300, False, {"max_risk": 79})
    # misses of the issue
    single("agentic_tool_harvester", 21, "agentic_harvest", 350, True, {"min_risk": 80},
           new=True)
    single("camouflaged_harvest_key", 22, "camouflaged", 450, True, {"min_risk": 80},
           ctx={"hide": "key", "product": recipes.real_chat})
    single("camouflaged_night_job", 23, "camouflaged", 450, True, {"min_risk": 80},
           ctx={"hide": "night", "product": recipes.tutoring_app})
    # Without text, long answers to short prompts alone are medium whatever the context: the
    # same traffic as one run of a zero-shot chain-of-thought benchmark (the next case)
    single("harvest_unknown_turns_text_free", 24, "response_harvest", 250, True,
           {"min_risk": 60, "max_risk": 79.9,
            "why": "text-free shape with context: medium, as a benchmark's single run is"},
           text=False, new=True)
    single("logprob_extraction", 25, "logprob_extract", 300, True, {"min_risk": 80})
    # a reasoning harvester seen only through its asks: one strong signal reaches medium
    single("reasoning_asks_alone", 26, "tutoring_app", 300, False,
           {"max_risk": 79, "why": "reasoning asks alone are medium at most"})
    # round 2: the remaining misses and the hard negatives of a wider simulator
    single("judge_harvester", 41, "judge_harvest", 250, True, {"min_risk": 80}, new=True)
    single("soft_label_harvest", 42, "logprob_extract", 250, True, {"min_risk": 80},
           ctx={"soft": True})
    single("camouflaged_mixed_no_end_user", 43, "camouflaged", 500, True, {"min_risk": 80},
           ctx={"hide": "mixed", "product": recipes.real_chat})
    single("harvest_with_made_up_users", 44, "response_harvest", 250, True, {"min_risk": 80},
           ctx={"style_overrides": {"users": 300}})
    single("cot_harness_on_reasoning_model", 45, "bench_cot", 300, False,
           {"max_risk": 79, "why": "chain-of-thought benchmark against a reasoning model"},
           ctx={"task": "gsm8k", "reasoning": 3000.0})
    single("labelling_app_reading_logprobs", 46, "labelling_app", 300, False, {"max_risk": 49},
           ctx={"logprobs": True})
    single("translation_app", 47, "translation_app", 300, False, {"max_risk": 49})
    single("agent_product_per_task_tools", 48, "agent_product", 300, False, {"max_risk": 79})
    # round 3: without text
    single("cot_benchmark_single_run_text_free", 64, "bench_cot", 300, False,
           {"max_risk": 79, "why": "one run of a zero-shot chain-of-thought benchmark, own "
            "sample, a new account: medium at most"}, text=False, new=True,
           ctx={"task": "gsm8k", "order": "own seed", "passes": 1, "reasoning": 0.0,
                "answer": (1400.0, 4096)})
    single("judge_harvester_text_free", 61, "judge_harvest", 250, True,
           {"min_risk": 80, "why": "a pairwise judge asking each comparison in both orders"},
           text=False, ctx={"swap": True})
    single("mmlu_circular_eval_text_free", 62, "bench_mmlu", 300, False,
           {"max_risk": 79, "why": "CircularEval: each item once per rotation of its options"},
           text=False, ctx={"circular": True})
    single("camouflaged_key_short_answers", 63, "camouflaged", 450, True,
           {"min_risk": 80, "why": "a harvest key asking for a few hundred tokens"}, text=False,
           ctx={"hide": "key", "product": recipes.coding_agent,
                "style_overrides": {"out_median": 600.0, "reasoning": 0.0, "messages": 1}})
    # a weakly linked campaign: no shared card, hosting ASNs + common SDK, waves, burst
    rng = random.Random(31)
    members = _weak_campaign(SimConfig(seed=31, campaign_size=14), rng)
    members = [dataclasses.replace(m, n_events=min(m.n_events, 110)) for m in members
               if m.ctx["role"] != "judge"]  # built-in words have no judge templates
    # a weakly linked campaign: >= 75% of its members alerted (risk >= 80), counting the
    # light members (half ordinary chat) too
    write_case("weak_campaign", 31, members,
               [{"accounts": [m.account_id for m in members], "min_alerted_share": 0.75,
                 "why": "weakly linked campaign members"}])


if __name__ == "__main__":
    main()
