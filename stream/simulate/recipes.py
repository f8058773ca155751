"""Personas built from real prompt text (`--corpus`): benign traffic that shares surface traits
with attacks, and attacks following public recipes. Parameters are drawn per account from wide
ranges, so no detector can key on one value.

Benign: benchmark harnesses with and without chain-of-thought (GSM8K/BBH "Let's think step by
step" or few-shot worked exemplars, some on reasoning models; MMLU 5-shot read by one-token
logprobs), tutoring apps (follow-ups, with or without a system prompt, some on reasoning
models), data-labelling apps (some read the label's logprobs), hobbyists running benchmark
scripts, real chat, a coding agent, an agent product with per-task tool sets, RAG, a batch
summariser, a translation app.
Attacks: self-instruct generation, bulk response harvesting (some with made-up end-user ids),
Orca-style system messages, judge/rubric prompts (reward-model harvesting), agentic tool-use
episodes, logprob extraction (next-token probes, or soft labels over whole answers), reasoning
harvesting, and camouflage inside a real product (per API key, night job, or mixed).
Campaign members (weakly linked, hydra) reuse these recipes with the campaign's envelope.
"""

from __future__ import annotations

import math
import random

from distillguard.stream.simulate import timing
from distillguard.stream.simulate.corpus import TextSource

Request = dict
# Our own words (not the detector's list): how apps and attackers phrase a reasoning ask.
ASK_STYLES = ["Let's think step by step.", "Explain how you got there.", "Work it out slowly.",
              "Show each stage of the solution.", "Reason it out before the final answer.",
              "Give the full derivation.", "Detail every intermediate result.",
              "Lass uns Schritt für Schritt denken.", "Piensa paso a paso.",
              "Réfléchissons étape par étape.", "让我们一步一步地思考。", "Давай подумаем шаг за шагом.",
              "段階的に考えましょう。", "차근차근 생각해 봅시다.", "Pensiamo passo dopo passo.",
              "Vamos pensar passo a passo.", "Laten we stap voor stap denken.", "Adım adım düşünelim."]  # noqa: RUF001
FOREIGN = ["Antworte auf Deutsch:", "Responde en español:", "Réponds en français:", "请用中文回答：",  # noqa: RUF001
           "Ответь по-русски:", "日本語で答えて:", "한국어로 답해:", "Rispondi in italiano:",
           "Responda em português:", "Antwoord in het Nederlands:", "Türkçe cevap ver:",
           "अपना उत्तर हिंदी में दें:", "أجب باللغة العربية:", "Odpowiedz po polsku:"]


def tokens(text: str) -> int:
    """Rough tokenizer: ~4 characters a token for Latin script, ~1.5 for CJK."""
    wide = sum(1 for c in text[:4000] if ord(c) > 0x2E80)
    return max(1, round((len(text) - wide) / 4 + wide / 1.5))


def _lognormal(rng: random.Random, median: float, spread: float = 0.5) -> int:
    return max(1, round(rng.lognormvariate(math.log(median), spread)))


def _times(rng: random.Random, n: int, start: float, duration: float, style: str) -> list[float]:
    if style == "scripted":
        return timing.scripted(rng, n, start, duration, jitter=rng.uniform(0.05, 0.5))
    if style == "bursts":
        return timing.bursts(rng, n, start, duration, n_bursts=rng.randint(2, 10),
                             burst_s=rng.uniform(600, 5400))
    if style == "diurnal":
        return timing.diurnal(rng, n, start, duration, peak_hour=rng.uniform(8, 22),
                              width=rng.uniform(2, 5))
    if style == "night":
        return timing.window(rng, n, start, duration, rng.uniform(0, 3), rng.uniform(4, 7))
    return timing.uniform(rng, n, start, duration)  # Poisson arrivals


def _src(ctx: dict) -> TextSource:
    return ctx["src"]


def _mmlu_item(rng, src: TextSource, shots: int, test: dict | None = None,
               rotate: int = 0) -> str:
    """An MMLU item with `shots` exemplars of its subject; `rotate` shifts the test item's
    options by that many places (CircularEval asks each item once per rotation)."""
    recs = src.records("mmlu")
    if not recs:
        return src.sample("mmlu", rng) + "\nA) one\nB) two\nC) three\nD) four\nAnswer:"
    test = test or rng.choice(recs)
    dev = [r for r in recs[:400] if r.get("subject") == test.get("subject")][:shots]

    def fmt(r, answer, shift=0):
        choices = r.get("choices", [])[:4]
        choices = choices[shift % len(choices):] + choices[:shift % len(choices)] if choices else []
        opts = "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices))
        tail = f" {'ABCD'[int(r.get('answer', 0))]}" if answer else ""
        return f"{r.get('question', '')}\n{opts}\nAnswer:{tail}"
    head = f"The following are multiple choice questions about {test.get('subject', '')}.\n\n"
    return head + "\n\n".join([fmt(r, True) for r in dev] + [fmt(test, False, rotate)])


def _bbh_item(rng, src: TextSource, cot: bool, index: int | None = None) -> str:
    recs = src.records("bbh")
    if not recs:
        q = src.sample("bbh", rng)
        return f"Q: {q}\nA: Let's think step by step." if cot else f"Q: {q}\nA:"
    r = recs[index % len(recs)] if index is not None else rng.choice(recs)
    prefix = (src.side.get("bbh_cot_prompts") or {}).get(r.get("task"), "") if cot else ""
    return f"{prefix}\n\nQ: {r.get('input', '')}\nA:" + (" Let's think step by step." if cot else "")


def _item(rng, src: TextSource, kind: str, index: int) -> str:
    """Item `index` of a public item set (the built-in vocabulary has none: a new sentence)."""
    texts = src.texts.get(kind) if not src.builtin else None
    return texts[index % len(texts)] if texts else src.sample(kind, rng)


def _walk(rng, n: int, size: int, ctx: dict) -> list[int]:
    """Which item of a public set of `size` items each of a harness's `n` requests asks. A
    harness walks a fixed slice of the set: in the set's own order (lm-eval-harness; `--limit`
    takes the first items), a sample drawn with a fixed seed that every user of the harness
    shares (simple-evals, HELM), or a sample of its own seed; once, or again for another model
    or setting. So accounts running the same benchmark send the same prompts, and an account
    running it twice repeats its own; one run of an own sample does neither."""
    order = ctx.get("order") or rng.choice(["in order", "in order", "shared seed", "own seed"])
    passes = ctx.get("passes") or rng.choice([1, 1, 2, 3])
    items = list(range(max(1, size)))
    if order == "shared seed":
        random.Random(0).shuffle(items)
    elif order == "own seed":
        rng.shuffle(items)
    plan = items[:max(1, min(len(items), -(-n // passes)))]
    return [plan[i % len(plan)] for i in range(n)]


# ---------------------------------------------------------------- benign

ZERO_SHOT_COT = ("Q: {q}\nA: Let's think step by step.", "Q: {q}\nA: Let's think step by step.",
                 "Question: {q}\nAnswer: Let's think step by step.",
                 "{q}\nLet's think step by step.")


def _worked(question: str, k: int) -> str:
    """A worked solution to exemplar `k`, in our own words around the question's numbers (the
    length of a real chain-of-thought exemplar: a few sentences, 40-110 words)."""
    rng = random.Random(k)
    numbers = [w.strip(".,?$%") for w in question.split() if any(c.isdigit() for c in w)]
    numbers = [n for n in numbers if n] or [str(rng.randint(2, 90)) for _ in range(3)]
    steps = [f"{rng.choice(['First', 'Next', 'Then', 'After that', 'Now'])}, we take "
             f"{rng.choice(numbers)} and {rng.choice(['add', 'multiply by', 'subtract', 'divide by'])}"
             f" {rng.choice(numbers)}, which gives {rng.randint(2, 900)}."
             for _ in range(rng.randint(3, 7))]
    return f"Let's work it out. {' '.join(steps)} So the answer is {2 + k * 37 % 899}."


def _gsm8k_fewshot(rng, src: TextSource, shots: list[int], index: int) -> str:
    """GSM8K with worked exemplars (items `shots`) before item `index`, as harnesses run it; the
    exemplars' answers are our own words, only the questions are the benchmark's."""
    head = ""
    for k in shots:
        question = _item(rng, src, "gsm8k", k)
        head += f"Q: {question}\nA: {_worked(question, k)}\n\n"
    return f"{head}Q: {_item(rng, src, 'gsm8k', index)}\nA:"


def bench_cot(rng, n, start, duration, ctx):
    """GSM8K / BBH with chain-of-thought: zero-shot "Let's think step by step" (in one of the
    common templates), or few-shot worked exemplars (the harness's standard ones, or the
    user's own); answers of any usual length; some run against a reasoning model."""
    src, task = _src(ctx), ctx.get("task") or rng.choice(["gsm8k", "gsm8k", "bbh", "gsm8k_fewshot"])
    out_median, max_tokens = rng.uniform(100, 700), rng.choice([256, 512, 1024, 2048, 4096])
    out_median, max_tokens = ctx.get("answer", (out_median, max_tokens))  # (median, cap)
    reasoning = rng.uniform(500, 6000) if rng.random() < 0.25 else 0.0
    reasoning = ctx.get("reasoning", reasoning)  # a reasoning model's hidden tokens (median)
    temperature = 0 if rng.random() < 0.7 else rng.choice([0.2, 0.6, 1.0])
    template = rng.choice(ZERO_SHOT_COT)
    shots = list(range(rng.choice([4, 8])))
    if rng.random() < 0.4:  # the user's own exemplars
        shots = [rng.randrange(5000) for _ in shots]
    size = len(src.records("bbh") if task == "bbh" else src.texts.get("gsm8k") or ())
    rows = []
    times = _times(rng, n, start, duration, rng.choice(["bursts", "scripted", "uniform"]))
    for ts, i in zip(times, _walk(rng, n, size, ctx), strict=True):
        text = (_bbh_item(rng, src, True, i) if task == "bbh" else
                _gsm8k_fewshot(rng, src, shots, i) if task == "gsm8k_fewshot" else
                template.format(q=_item(rng, src, "gsm8k", i)))
        req = {"text": text, "messages": 1, "input_tokens": tokens(text),
               "output_tokens": min(max_tokens, _lognormal(rng, out_median, 0.45)),
               "params": {"temperature": temperature, "max_tokens": max_tokens}}
        if reasoning:
            hidden = _lognormal(rng, reasoning, 0.5)
            req["reasoning_tokens"] = hidden
            req["output_tokens"] += hidden
        rows.append((ts, req))
    return rows


def bench_plain(rng, n, start, duration, ctx):
    """The same benchmarks without chain-of-thought: short answers."""
    src = _src(ctx)
    bbh = rng.random() < 0.5
    size = len(src.records("bbh") if bbh else src.texts.get("gsm8k") or ())
    rows = []
    times = _times(rng, n, start, duration, rng.choice(["bursts", "scripted"]))
    for ts, i in zip(times, _walk(rng, n, size, ctx), strict=True):
        text = (_bbh_item(rng, src, False, i) if bbh else
                f"Question: {_item(rng, src, 'gsm8k', i)}\nAnswer:")
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": rng.randint(1, 40),
                          "params": {"temperature": 0, "max_tokens": rng.choice([16, 32, 64])}}))
    return rows


def bench_mmlu(rng, n, start, duration, ctx):
    """MMLU 5-shot: one-token answers read through logprobs. Some harnesses run CircularEval
    (each item once per rotation of its options, one after another): the same prompt
    reordered, as a judge's position swap is."""
    src, top = _src(ctx), rng.choice([1, 5, 10, 20])
    circular = ctx.get("circular", rng.random() < 0.3)
    recs = src.records("mmlu")
    walk = _walk(rng, -(-n // 4) if circular else n, len(recs), ctx)
    rows = []
    for k, ts in enumerate(_times(rng, n, start, duration, rng.choice(["bursts", "scripted"]))):
        item = recs[walk[k // 4 if circular else k]] if recs else None
        text = _mmlu_item(rng, src, 5, item, k % 4 if circular else 0)
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": 1, "params": {"temperature": 0, "max_tokens": 1,
                                                         "logprobs": True, "top_logprobs": top}}))
    return rows


def tutoring_app(rng, n, start, duration, ctx):
    """Homework help that always asks for worked solutions; pupils follow up. Apps differ: how
    often a pupil follows up, whether there is a system prompt, and whether the model reasons."""
    src = _src(ctx)
    system = (f"You are a patient maths tutor for year {rng.randint(3, 12)} pupils. Explain every "
              "step." if rng.random() < 0.8 else None)
    ask = rng.choice(ASK_STYLES[:7])
    follow_up = rng.uniform(0.2, 0.8)
    answer = rng.uniform(150, 600)
    reasoning = rng.uniform(400, 3000) if rng.random() < 0.25 else 0.0
    rows = []
    for ts in _times(rng, n, start, duration, "diurnal"):
        turns = 1 if rng.random() > follow_up else rng.choice([2, 3, 4, 6])
        text = f"{src.sample('gsm8k', rng)} {ask}"
        req = {"user_id": f"pupil-{rng.randrange(3000)}", "text": text, "messages": turns,
               "input_tokens": tokens(text) + 60 + 250 * (turns - 1),
               "output_tokens": _lognormal(rng, answer, 0.4),
               "params": {"temperature": rng.choice([0.3, 0.5, 0.7]), "stream": True}}
        if system:
            req["system"] = system
        if reasoning:
            hidden = _lognormal(rng, reasoning, 0.5)
            req["reasoning_tokens"] = hidden
            req["output_tokens"] += hidden
        rows.append((ts, req))
    return rows


def labelling_app(rng, n, start, duration, ctx):
    """A data-labelling startup: classify reviews and news items, tiny answers, all day; some
    read the label's logprobs for a confidence."""
    src = _src(ctx)
    task = rng.choice(["Classify the sentiment of this review as positive or negative.",
                       "Which topic is this news item about: world, sports, business or tech?",
                       "Rate this app review from 1 to 5 stars. Reply with the number only."])
    label_word = rng.choice(["Label:", "Answer:", "Sentiment:", "Category:"])
    logprobs = ctx.get("logprobs", rng.random() < 0.35)
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted", "diurnal"])):
        text = f"{task}\n\n{src.sample('review', rng)}" + (f"\n{label_word}" if logprobs else "")
        params = {"temperature": 0, "max_tokens": 10,
                  "response_format": rng.choice(["text", "json_object"])}
        if logprobs:
            params |= {"max_tokens": 1, "logprobs": True, "top_logprobs": rng.choice([2, 5, 10])}
        rows.append((ts, {"text": text, "system": "You label data. Answer with the label only.",
                          "messages": 1, "input_tokens": tokens(text) + 12,
                          "output_tokens": 1 if logprobs else rng.randint(1, 8),
                          "params": params}))
    return rows


def hobbyist_bench(rng, n, start, duration, ctx):
    """Someone running a benchmark script at home: a few hundred items, maybe CoT."""
    src, cot = _src(ctx), rng.random() < 0.6
    kind = rng.choice(["gsm8k", "bbh", "mmlu", "code"])
    logprobs = kind == "mmlu" and rng.random() < 0.5
    shots = rng.choice([0, 5])
    size = len(src.records(kind) if kind in ("bbh", "mmlu") else src.texts.get(kind) or ())
    rows = []
    times = _times(rng, n, start, duration, rng.choice(["bursts", "uniform", "diurnal"]))
    for ts, i in zip(times, _walk(rng, n, size, ctx), strict=True):
        if kind == "mmlu":
            recs = src.records("mmlu")
            text = _mmlu_item(rng, src, shots, recs[i % len(recs)] if recs else None)
        elif kind == "bbh":
            text = _bbh_item(rng, src, cot, i)
        else:
            text = _item(rng, src, kind, i) + ("\nLet's think step by step." if cot else "")
        out = 1 if logprobs else _lognormal(rng, 300 if cot else 60, 0.6)
        params = {"temperature": rng.choice([0, 0.2, 1.0]), "max_tokens": rng.choice([512, 2048])}
        if logprobs:
            params |= {"max_tokens": 1, "logprobs": True, "top_logprobs": rng.choice([5, 20])}
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": out, "params": params}))
    return rows


def real_chat(rng, n, start, duration, ctx):
    """Chat product: real user prompts, conversations, some long-form writing."""
    src = _src(ctx)
    rows = []
    for ts in _times(rng, n, start, duration, "diurnal"):
        turns = rng.choice([1, 1, 2, 3, 5, 8, 12])
        text = src.sample("chat", rng)
        rows.append((ts, {"user_id": f"u-{rng.randrange(20000)}", "text": text,
                          "messages": turns, "input_tokens": tokens(text) + 300 * (turns - 1),
                          "output_tokens": _lognormal(rng, rng.uniform(150, 700), 0.7),
                          "params": {"temperature": rng.choice([0.7, 1.0]), "stream": True}}))
    return rows


def coding_agent(rng, n, start, duration, ctx):
    """Developers with an agent: long multi-turn sessions, the product's fixed tool set."""
    src = _src(ctx)
    systems = src.texts.get("agent_system") or ["You are a coding agent."]
    system = rng.choice(systems)
    tools = rng.choice([0, 0, rng.randint(3, 12)])
    rows, turn = [], 1
    for ts in _times(rng, n, start, duration, "diurnal"):
        turn = 1 if rng.random() < 0.15 else turn + 2
        text = src.sample("task", rng) if turn == 1 else "Apply the change and run the tests."
        req = {"user_id": f"dev-{rng.randrange(50)}", "text": text, "system": system,
               "messages": turn, "input_tokens": tokens(text) + 900 + 700 * turn,
               "output_tokens": _lognormal(rng, 350, 0.7), "params": {"temperature": 0}}
        if tools:
            req["params"]["tools"] = tools + (rng.random() < 0.1)
            req["finish_reason"] = rng.choice(["tool_calls", "stop"])
        rows.append((ts, req))
    return rows


def rag_app(rng, n, start, duration, ctx):
    src = _src(ctx)
    rows = []
    for ts in _times(rng, n, start, duration, "diurnal"):
        text = f"Context:\n{src.sample('web', rng)}\n\nQuestion: {src.sample('chat', rng)[:200]}"
        rows.append((ts, {"text": text, "system": "Answer from the context only.", "messages": 2,
                          "input_tokens": tokens(text) + 20,
                          "output_tokens": _lognormal(rng, 150, 0.5),
                          "params": {"temperature": 0.1}}))
    return rows


def batch_summariser(rng, n, start, duration, ctx):
    """Nightly and hourly summaries of documents: around the clock, temperature 0."""
    src = _src(ctx)
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["scripted", "uniform"])):
        text = f"Summarise in five bullet points:\n\n{src.sample('web', rng)}"
        rows.append((ts, {"text": text, "system": "You summarise documents.", "messages": 1,
                          "input_tokens": tokens(text), "output_tokens": _lognormal(rng, 180, 0.3),
                          "params": {"temperature": 0, "max_tokens": 400}}))
    return rows


def translation_app(rng, n, start, duration, ctx):
    """A translation product: web text and reviews into many languages; answers about as long
    as the text, one system prompt, end users."""
    src = _src(ctx)
    languages = rng.sample(["German", "Spanish", "French", "Chinese", "Japanese", "Russian",
                            "Portuguese", "Korean", "Italian", "Arabic", "Hindi", "Turkish"],
                           rng.randint(3, 10))
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["diurnal", "uniform"])):
        doc = src.sample(rng.choice(["web", "review"]), rng)[:rng.randint(200, 2500)]
        text = f"Translate into {rng.choice(languages)}:\n\n{doc}"
        rows.append((ts, {"user_id": f"u-{rng.randrange(8000)}", "text": text,
                          "system": "You are a professional translator. Keep the formatting.",
                          "messages": 1, "input_tokens": tokens(text) + 12,
                          "output_tokens": max(1, round(tokens(doc) * rng.uniform(0.9, 1.6))),
                          "params": {"temperature": rng.choice([0, 0.3])}}))
    return rows


def agent_product(rng, n, start, duration, ctx):
    """A product's assistant agent: one system prompt, the tools each task needs (a few set
    sizes), multi-step episodes from real tool-use conversations."""
    src = _src(ctx)
    convs = src.records("toolcall")
    sizes = rng.sample(range(2, 16), rng.randint(2, 6))
    system = f"You are the assistant of an online shop (tenant {rng.getrandbits(16)}). Use tools."
    rows, turn, tools, episode = [], 1, sizes[0], ["Help me with my order."]
    for ts in _times(rng, n, start, duration, "diurnal"):
        if turn == 1:
            conv = rng.choice(convs) if convs else {"turns": [src.sample("chat", rng)]}
            episode = [t for t in conv.get("turns", []) if isinstance(t, str)] or ["Help me."]
            tools = rng.choice(sizes)
        text = episode[min(turn - 1, len(episode) - 1)]
        rows.append((ts, {"user_id": f"shopper-{rng.randrange(20000)}", "text": text,
                          "system": system, "messages": turn,
                          "input_tokens": tokens(text) + 600 + 300 * turn,
                          "output_tokens": _lognormal(rng, rng.uniform(60, 300), 0.6),
                          "finish_reason": rng.choice(["tool_calls", "stop"]),
                          "params": {"temperature": 0.2, "tools": tools}}))
        turn = turn + 2 if rng.random() < 0.6 else 1
    return rows


# ---------------------------------------------------------------- attacks

def _harvest_request(rng, src: TextSource, style: dict) -> Request:
    """One response-harvesting request of an account's `style` (drawn once per account)."""
    kind = rng.choice(style["kinds"])
    text = src.sample(kind, rng)
    if style.get("foreign") and rng.random() < style["foreign"]:
        text = f"{rng.choice(style['languages'])} {text}"
    if style.get("ask") and rng.random() < style["ask"]:
        text = f"{text}\n{rng.choice(ASK_STYLES)}"
    system = rng.choice(style["systems"]) if style.get("systems") else None
    out = _lognormal(rng, style["out_median"], 0.45)
    req = {"text": text, "messages": style.get("messages", 1),
           "input_tokens": tokens(text) + (tokens(system) if system else 0),
           "output_tokens": out, "params": {"temperature": style["temperature"],
                                            "max_tokens": style["max_tokens"]}}
    if system:
        req["system"] = system
    if style.get("users"):
        req["user_id"] = f"user-{rng.randrange(style['users'])}"
    if style.get("reasoning"):
        hidden = _lognormal(rng, style["reasoning"], 0.5)
        req["reasoning_tokens"] = hidden
        req["output_tokens"] = out + hidden
    if "messages" in style and style["messages"] is None:
        req["messages"] = None
    return req


def harvest_style(rng, src: TextSource, recipe: str, ctx_style: dict | None = None) -> dict:
    """One account's way of harvesting; `ctx_style` overrides what was drawn."""
    ctx_style = ctx_style or {}
    orca = [s for s in (src.side.get("sensei_orca_system_messages") or {}).get("orca", []) if s]
    style = {"kinds": ["instruction"], "out_median": rng.uniform(250, 1500),
             "temperature": rng.choice([0, 0.3, 0.7, 1.0]), "max_tokens": rng.choice([2048, 4096]),
             "ask": 0.0, "foreign": 0.0, "languages": rng.sample(FOREIGN, rng.randint(2, 10))}
    if recipe == "orca":
        style |= {"kinds": ["cot", "t0"], "systems": rng.sample(orca, min(len(orca), 8)) or
                  ["You are a helpful assistant. Explain in detail."], "ask": rng.uniform(0, 0.5)}
    elif recipe == "reasoning":
        style |= {"kinds": ["cot", "gsm8k", "instruction"], "reasoning": rng.uniform(1500, 8000),
                  "out_median": rng.uniform(250, 900), "ask": rng.uniform(0.3, 1.0)}
    else:
        style |= {"kinds": rng.sample(["instruction", "instruction_zh", "t0", "cot", "chat"],
                                      rng.randint(1, 3)), "foreign": rng.choice([0, 0, 0.3, 0.8])}
    if rng.random() < 0.25:
        style["messages"] = None  # the gateway does not log turns for this client
    if rng.random() < 0.2:
        style["users"] = rng.randint(20, 2000)  # passes made-up end-user ids
    return style | ctx_style


def response_harvest(rng, n, start, duration, ctx):
    src = _src(ctx)
    style = ctx.get("style") or harvest_style(rng, src, ctx.get("recipe", "harvest"),
                                              ctx.get("style_overrides"))
    return [(ts, _harvest_request(rng, src, style))
            for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted"]))]


def orca_harvest(rng, n, start, duration, ctx):
    return response_harvest(rng, n, start, duration, ctx | {"recipe": "orca"})


def reasoning_harvest(rng, n, start, duration, ctx):
    return response_harvest(rng, n, start, duration, ctx | {"recipe": "reasoning"})


def self_instruct(rng, n, start, duration, ctx):
    """Alpaca's generate_instruction: the self-instruct prompt with 3 seed tasks, 20 new out."""
    src = _src(ctx)
    head = src.side.get("selfinstruct") or "Come up with 20 diverse task instructions.\n"
    seeds = src.records("instruction")[:200] or [{"instruction": src.sample("instruction", rng)}]
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted"])):
        tasks = "\n".join(f"{i + 1}. Instruction: {rng.choice(seeds).get('instruction', '')}"
                          for i in range(3))
        text = f"{head}\nList of 20 tasks:\n{tasks}\n4. Instruction:"
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": _lognormal(rng, rng.uniform(900, 2500), 0.3),
                          "params": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 3072}}))
    return rows


def judge_harvest(rng, n, start, duration, ctx):
    """MT-bench-style judge prompts over ever-new answer pairs: reward-model labels. Most follow
    the recipe and judge a pair in both orders (FastChat's and arena-hard's position swap: the
    second game right after the first); the rest judge each pair once, in one order."""
    src = _src(ctx)
    judges = src.side.get("judge") or [{"system_prompt": "Judge which answer is better.",
                                        "prompt_template": "{question}\nA: {answer_a}\nB: {answer_b}"}]
    judges = [j for j in judges if "multi" not in j.get("name", "")] or judges
    pairs = src.records("pairs") or [{"question": src.sample("chat", rng), "answer_a": "yes",
                                      "answer_b": "no"}]
    swap = ctx.get("swap", rng.random() < 0.6)
    rows, second = [], None
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted"])):
        if second is not None:
            (judge, fields), second = second, None
        else:
            judge, pair = rng.choice(judges), rng.choice(pairs)
            fields = {"question": pair.get("question", ""), "answer_a": pair.get("answer_a", ""),
                      "answer_b": pair.get("answer_b", ""), "answer": pair.get("answer_a", ""),
                      "ref_answer_1": pair.get("answer_b", "")}
            if swap and "{answer_b}" in judge.get("prompt_template", ""):
                second = judge, fields | {"answer_a": fields["answer_b"],
                                          "answer_b": fields["answer_a"]}
        try:
            text = judge["prompt_template"].format(**fields)
        except (KeyError, IndexError):
            text = f"{fields['question']}\n{fields['answer_a']}\n{fields['answer_b']}"
        system = judge.get("system_prompt", "")
        rows.append((ts, {"text": text, "system": system, "messages": 1,
                          "input_tokens": tokens(text) + tokens(system),
                          "output_tokens": _lognormal(rng, rng.uniform(120, 500), 0.4),
                          "params": {"temperature": 0, "max_tokens": 2048}}))
    return rows


def agentic_harvest(rng, n, start, duration, ctx):
    """Tool-use episodes replayed from public trajectories: each episode its own tool set."""
    src = _src(ctx)
    convs = src.records("toolcall")
    rows, turn, tools, system = [], 1, 0, ""
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted", "bursts"])):
        if turn == 1 or rng.random() < 0.25:
            conv = rng.choice(convs) if convs else {
                "tools": f"[tool set {rng.getrandbits(32):08x}]", "turns": [src.sample("task", rng)]}
            tools = rng.randint(6, 24)
            system = f"You can call these functions: {conv.get('tools', '')}"
            episode = [t for t in conv.get("turns", []) if isinstance(t, str)] or ["Do the task."]
            turn = 1
        text = episode[min(turn - 1, len(episode) - 1)]
        rows.append((ts, {"text": text, "system": system, "messages": turn,
                          "input_tokens": tokens(text) + tokens(system) + 400 * turn,
                          "output_tokens": _lognormal(rng, rng.uniform(80, 500), 0.6),
                          "finish_reason": rng.choice(["tool_calls", "tool_calls", "stop"]),
                          "params": {"temperature": rng.choice([0, 0.7]), "tools": tools}}))
        turn = turn + 2 if rng.random() < 0.7 else 1
    return rows


def logprob_extract(rng, n, start, duration, ctx):
    """Next-token distributions over web text prefixes, some with logit bias to see past top-k;
    or soft labels: the top logprobs of every token of long answers to instructions."""
    src = _src(ctx)
    if ctx.get("soft", rng.random() < 0.3):
        return _soft_labels(rng, src, n, start, duration)
    bias_share, max_tok = rng.choice([0, 0.3, 0.7]), rng.randint(1, 20)
    top = rng.choice([5, 10, 20])
    docs = [src.sample("web", rng) for _ in range(max(5, n // rng.randint(5, 60)))]
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted"])):
        doc = rng.choice(docs)
        text = doc[:rng.randint(min(40, len(doc)), max(1, min(len(doc), 1500)))]
        params = {"temperature": 0, "max_tokens": max_tok, "logprobs": True,
                  "top_logprobs": top}
        if rng.random() < bias_share:
            params["logit_bias"] = rng.randint(1, 300)
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": rng.randint(1, max_tok), "params": params}))
    return rows


def _soft_labels(rng, src: TextSource, n, start, duration):
    top, answer = rng.choice([5, 10, 20]), rng.uniform(200, 900)
    rows = []
    for ts in _times(rng, n, start, duration, rng.choice(["uniform", "scripted"])):
        text = src.sample(rng.choice(["instruction", "cot", "chat"]), rng)
        rows.append((ts, {"text": text, "messages": 1, "input_tokens": tokens(text),
                          "output_tokens": _lognormal(rng, answer, 0.5),
                          "params": {"temperature": rng.choice([0, 0.7]), "max_tokens": 2048,
                                     "logprobs": True, "top_logprobs": top}}))
    return rows


PRODUCTS = (real_chat, tutoring_app, coding_agent, rag_app)
HARVESTS = ("harvest", "orca", "reasoning")


def camouflaged(rng, n, start, duration, ctx):
    """A real product whose owner slips 10-25% harvesting in: on its own API key, as a night
    job, or mixed into the product's own traffic."""
    share = rng.uniform(0.1, 0.25)
    n_attack = max(1, round(n * share))
    product = ctx.get("product") or rng.choice(PRODUCTS)
    rows = product(rng, n - n_attack, start, duration, ctx)
    how = ctx.get("hide") or rng.choice(["key", "night", "key_night", "mixed"])
    style = harvest_style(rng, _src(ctx), rng.choice(HARVESTS), ctx.get("style_overrides"))
    style["messages"] = 1 if how != "mixed" else rng.choice([1, None])
    when = "night" if "night" in how else "uniform"
    attack_key = f"key_{rng.getrandbits(24):06x}"
    for ts in _times(rng, n_attack, start, duration, when):
        req = _harvest_request(rng, _src(ctx), style)
        if "key" in how:
            req["api_key_id"] = attack_key
        rows.append((ts, req))
    return sorted(rows, key=lambda r: r[0])


def light_member(rng, n, start, duration, ctx):
    """A campaign member that is not a full distiller: half ordinary chat, half harvesting."""
    half = n // 2
    rows = real_chat(rng, n - half, start, duration, ctx)
    rows += response_harvest(rng, half, start, duration, ctx)
    return sorted(rows, key=lambda r: r[0])


def campaign_member(rng, n, start, duration, ctx):
    """Weakly linked campaign: the member's recipe is drawn by the campaign plan."""
    fn = {"harvest": response_harvest, "orca": orca_harvest, "judge": judge_harvest,
          "light": light_member, "selfinstruct": self_instruct}[ctx["role"]]
    return fn(rng, n, ctx.get("member_start", start), duration - (ctx.get("member_start", start)
                                                                  - start), ctx)


BENIGN = {"bench_cot": (bench_cot, 4.0), "bench_plain": (bench_plain, 3.0),
          "bench_mmlu": (bench_mmlu, 4.0), "tutoring_app": (tutoring_app, 3.0),
          "labelling_app": (labelling_app, 5.0), "hobbyist_bench": (hobbyist_bench, 0.3),
          "real_chat": (real_chat, 3.0), "coding_agent": (coding_agent, 2.0),
          "rag_app": (rag_app, 3.0), "batch_summariser": (batch_summariser, 4.0),
          "translation_app": (translation_app, 3.0), "agent_product": (agent_product, 3.0)}
ATTACKS = {"self_instruct": (self_instruct, 3.0), "response_harvest": (response_harvest, 5.0),
           "orca_harvest": (orca_harvest, 4.0), "judge_harvest": (judge_harvest, 3.0),
           "agentic_harvest": (agentic_harvest, 5.0), "logprob_extract": (logprob_extract, 4.0),
           "reasoning_harvest": (reasoning_harvest, 3.0), "camouflaged": (camouflaged, 3.0)}
CAMPAIGN = {"campaign_member": campaign_member}


