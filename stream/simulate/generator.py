"""Assemble personas into one labelled, time-ordered stream of contract events."""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distillguard.models.simhash import simhash64
from distillguard.models.timestamps import to_rfc3339
from distillguard.stream.simulate import recipes
from distillguard.stream.simulate.corpus import TextSource
from distillguard.stream.simulate.personas import DISTILL_TEMPLATES, PERSONAS
from distillguard.stream.simulate.vocabulary import LANG_PHRASES, MODELS, SUBJECTS, USER_AGENTS

DEFAULT_START = 1793491200.0  # 2026-11-01T00:00:00Z: fixed, so a seed gives the same file
DAY = 86400.0


@dataclass(frozen=True)
class SimAccount:
    account_id: str
    persona: str
    attack: bool
    n_events: int
    created_ts: float
    attack_start: float | None
    ctx: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SimConfig:
    accounts: int = 60            # accounts besides the hydra campaign
    attack_share: float = 0.15    # share of those accounts that attack
    hydra_size: int = 30          # accounts in one hydra campaign (0 = none)
    events: int = 20_000          # about this many events in all
    hours: float = 24.0
    seed: int = 7
    text: bool = True
    start: float = DEFAULT_START
    corpus: str | None = None     # folder of JSONL prompts: real-text personas (recipes.py)
    campaign_size: int = 50       # weakly linked campaign (corpus mode; 0 = none)


def _new_id(rng: random.Random) -> str:
    return f"acct_{rng.getrandbits(40):010x}"


def _envelope(rng: random.Random) -> dict:
    """What identifies a client: credentials, address, SDK, card. Hydra members share these."""
    return {"api_key_id": f"key_{rng.getrandbits(24):06x}",
            "ip": f"198.{rng.randrange(18, 20)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "asn": 64500 + rng.randrange(200), "user_agent": rng.choice(USER_AGENTS),
            "payment": hashlib.sha256(f"card-{rng.getrandbits(64)}".encode()).hexdigest()[:32],
            "model": rng.choice(MODELS)}


HOSTING_ASNS = [16509, 14618, 15169, 396982, 8075, 24940, 16276, 14061, 63949, 20473]
SDK_AGENTS = ["openai-python/1.54.3", "openai-python/1.55.0", "OpenAI/NodeJS/4.71.0",
              "litellm/1.52.0", "python-httpx/0.27.2", "langchain/0.3.7"]
PROGRAMMATIC = {"bench_cot", "bench_plain", "bench_mmlu", "hobbyist_bench", "labelling_app",
                "batch_summariser", "coding_agent", "agent_product"}


def _corpus_envelope(rng: random.Random, persona: str) -> dict:
    """Programmatic users often run from hosting networks with a common SDK, like attackers."""
    env = _envelope(rng)
    if persona in PROGRAMMATIC or recipes.ATTACKS.get(persona) or rng.random() < 0.2:
        if rng.random() < 0.7:
            env["asn"] = rng.choice(HOSTING_ASNS)
            env["ip"] = f"{rng.choice([3, 18, 34, 35, 52, 54])}.{rng.randrange(256)}." \
                        f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
        env["user_agent"] = rng.choice(SDK_AGENTS[:3] if rng.random() < 0.7 else SDK_AGENTS)
    return env


def plan_corpus_accounts(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    """Real-text personas (recipes.py), a weakly linked campaign and a mixed hydra."""
    benign, attacks = list(recipes.BENIGN), list(recipes.ATTACKS)
    n_attack = max(1, round(cfg.accounts * cfg.attack_share)) if cfg.attack_share > 0 else 0
    personas = [attacks[i % len(attacks)] for i in range(n_attack)]
    personas += [benign[i % len(benign)] for i in range(cfg.accounts - n_attack)]
    rng.shuffle(personas)
    table = recipes.BENIGN | recipes.ATTACKS
    weights = [table[p][1] * rng.lognormvariate(0, 0.6) for p in personas]
    campaign_events = (cfg.campaign_size * 220 + cfg.hydra_size * 250) if n_attack else 0
    scale = max(cfg.events - campaign_events, len(personas) * 3) / sum(weights)
    accounts = []
    for persona, weight in zip(personas, weights, strict=True):
        attack = persona in recipes.ATTACKS
        ctx = _corpus_envelope(rng, persona)
        if persona == "hobbyist_bench":  # a script at home: tens to a couple of hundred items
            weight = min(weight, rng.uniform(30, 200) / scale)
        new = attack and rng.random() < 0.7
        created = cfg.start - (rng.uniform(0.1, 20) if new else rng.uniform(5, 1500)) * DAY
        accounts.append(SimAccount(_new_id(rng), persona, attack, max(3, round(weight * scale)),
                                   created, cfg.start if attack else None, ctx))
    if n_attack and cfg.campaign_size:
        accounts += _weak_campaign(cfg, rng)
    if n_attack and cfg.hydra_size:
        accounts += _mixed_hydra(cfg, rng)
    return accounts


def _weak_campaign(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    """Accounts linked only weakly: hosting ASNs with a common SDK (shared with many honest
    programmatic users), synchronised start waves, a registration burst, shared system prompts;
    no shared payment, every member its own address and key."""
    asns = rng.sample(HOSTING_ASNS, rng.randint(2, 4))
    agent = rng.choice(SDK_AGENTS[:3])
    burst = cfg.start - rng.uniform(1, 20) * DAY
    burst_len = rng.uniform(0.3, 3) * 3600
    duration = cfg.hours * 3600
    waves = [cfg.start + rng.uniform(0, 0.6) * duration for _ in range(rng.randint(3, 7))]
    asks = ["Give a detailed answer.", "Explain fully.", "Be thorough and long."]
    systems = [f"You are an AI assistant. {rng.choice(asks)} Campaign {rng.getrandbits(16)}"
               for _ in range(rng.randint(1, 3))]
    members = []
    for _ in range(cfg.campaign_size):
        role = rng.choices(["harvest", "orca", "judge", "light", "selfinstruct"],
                           [4, 3, 1, 2, 1])[0]
        ctx = _envelope(rng) | {
            "asn": rng.choice(asns), "user_agent": agent, "role": role,
            "ip": f"{rng.choice([3, 18, 34, 52])}.{rng.randrange(256)}.{rng.randrange(256)}."
                  f"{rng.randrange(1, 255)}",
            "member_start": rng.choice(waves) + rng.uniform(0, 180)}
        ctx["style"] = {"kinds": ["instruction", "cot", "t0"], "out_median": rng.uniform(300, 1400),
                        "temperature": 0.7, "max_tokens": 4096, "ask": 0.1, "foreign": 0.0,
                        "languages": [], "systems": systems}
        members.append(SimAccount(_new_id(rng), "weak_campaign_member", True,
                                  rng.randint(60, 380), burst + rng.uniform(0, burst_len),
                                  ctx["member_start"], ctx))
    return members


def _mixed_hydra(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    """A hydra behind a few cards and proxies whose members are not all full distillers."""
    cards = [_envelope(rng)["payment"] for _ in range(rng.randint(2, 5))]
    proxies = [f"203.0.{rng.randrange(256)}" for _ in range(rng.randint(2, 4))]
    agent = rng.choice(SDK_AGENTS)
    members = []
    for _ in range(cfg.hydra_size):
        role = rng.choices(["harvest", "light", "judge", "orca"], [5, 3, 1, 1])[0]
        ctx = _envelope(rng) | {"payment": rng.choice(cards), "user_agent": agent, "role": role,
                                "ip": f"{rng.choice(proxies)}.{rng.randrange(1, 255)}"}
        n = rng.randint(30, 80) if rng.random() < 0.2 else rng.randint(120, 400)
        members.append(SimAccount(_new_id(rng), "hydra_member", True, n,
                                  cfg.start - rng.uniform(0.05, 30) * DAY, cfg.start, ctx))
    return members


def plan_accounts(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    benign = [n for n, s in PERSONAS.items() if not s.attack]
    attacks = [n for n, s in PERSONAS.items() if s.attack and s.volume > 0]
    n_attack = max(1, round(cfg.accounts * cfg.attack_share)) if cfg.attack_share > 0 else 0
    personas = [attacks[i % len(attacks)] for i in range(n_attack)]
    personas += [benign[i % len(benign)] for i in range(cfg.accounts - n_attack)]
    rng.shuffle(personas)
    hydra_events = cfg.hydra_size * 275 if n_attack else 0
    weights = [PERSONAS[p].volume * rng.lognormvariate(0, 0.4) for p in personas]
    scale = max(cfg.events - hydra_events, len(personas) * 3) / sum(weights)
    duration = cfg.hours * 3600
    accounts = []
    for persona, weight in zip(personas, weights, strict=True):
        attack = PERSONAS[persona].attack
        ctx = _envelope(rng)
        start = cfg.start
        if persona == "turns_bad":
            start = cfg.start + rng.uniform(0.3, 0.6) * duration
            ctx["attack_start"] = start
        new = attack and persona != "turns_bad"
        created = cfg.start - (rng.uniform(0.1, 3) if new else rng.uniform(30, 900)) * DAY
        accounts.append(SimAccount(_new_id(rng), persona, attack, max(3, round(weight * scale)),
                                   created, start if attack else None, ctx))
    if n_attack and cfg.hydra_size:
        accounts += _hydra_campaign(cfg, rng)
    return accounts


def _hydra_campaign(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    """20-200 fresh accounts behind a few cards and proxy ranges, splitting the topic space."""
    cards = [_envelope(rng)["payment"] for _ in range(rng.randint(2, 5))]
    proxies = [f"203.0.{rng.randrange(256)}" for _ in range(rng.randint(2, 4))]
    agent = rng.choice(USER_AGENTS)
    templates = rng.sample(DISTILL_TEMPLATES, 2)
    languages = rng.sample(list(LANG_PHRASES), 4)
    subjects = SUBJECTS[:]
    rng.shuffle(subjects)
    members = []
    for i in range(cfg.hydra_size):
        ctx = _envelope(rng) | {
            "payment": rng.choice(cards), "ip": f"{rng.choice(proxies)}.{rng.randrange(1, 255)}",
            "user_agent": agent, "templates": templates, "languages": languages,
            "subjects": [subjects[(i * 3 + k) % len(subjects)] for k in range(4)]}
        members.append(SimAccount(_new_id(rng), "hydra_member", True, rng.randint(150, 400),
                                  cfg.start - rng.uniform(0.05, 2) * DAY, cfg.start, ctx))
    return members


def _persona_fn(name: str):
    if name in ("weak_campaign_member", "hydra_member"):
        return recipes.campaign_member
    table = recipes.BENIGN | recipes.ATTACKS
    return table[name][0] if name in table else PERSONAS[name].fn


def _account_events(cfg: SimConfig, acct: SimAccount, rng: random.Random,
                    src: TextSource | None = None) -> list[tuple]:
    persona = _persona_fn(acct.persona) if src is not None else PERSONAS[acct.persona].fn
    ctx = acct.ctx if src is None else acct.ctx | {"src": src}
    rows = []
    for ts, req in persona(rng, acct.n_events, cfg.start, cfg.hours * 3600, ctx):
        text, system = req.pop("text"), req.pop("system", None)
        messages = req.pop("messages", 1)
        prompt = {"sha256": hashlib.sha256(text.encode()).hexdigest(),
                  "simhash": f"{simhash64(text):016x}", "chars": len(text)}
        if messages is not None:
            prompt["messages"] = messages
        key = req.pop("api_key_id", None) or ctx["api_key_id"]
        if system:
            prompt["system_sha256"] = hashlib.sha256(system.encode()).hexdigest()
        if cfg.text:
            prompt["text"] = text
        event = {"event_id": f"{rng.getrandbits(128):032x}", "timestamp": to_rfc3339(ts),
                 "account_id": acct.account_id, "api_key_id": key,
                 "source_ip": ctx["ip"], "asn": ctx["asn"], "country": "DE",
                 "user_agent": ctx["user_agent"], "endpoint": "/v1/chat/completions",
                 "model": ctx["model"], "status_code": 200,
                 "latency_ms": round(rng.uniform(200, 9000), 1), "finish_reason": "stop",
                 "payment_fingerprint": ctx["payment"],
                 "account_created_at": to_rfc3339(acct.created_ts), "prompt": prompt, **req}
        rows.append((ts, event["event_id"], event))
    return rows


def generate(cfg: SimConfig) -> tuple[list[SimAccount], Iterator[dict]]:
    """Accounts with their labels, and their events merged in event-time order."""
    rng = random.Random(cfg.seed)
    src = TextSource(Path(cfg.corpus)) if cfg.corpus else None
    accounts = plan_corpus_accounts(cfg, rng) if src is not None else plan_accounts(cfg, rng)
    streams = [sorted(_account_events(cfg, a, random.Random(rng.getrandbits(64)), src),
                      key=lambda row: row[:2]) for a in accounts]
    merged = (event for _, _, event in heapq.merge(*streams, key=lambda row: (row[0], row[1])))
    return accounts, merged


def labels_csv_rows(accounts: list[SimAccount]) -> Iterator[list[str]]:
    yield ["account_id", "label", "scenario", "attack_start"]
    for a in accounts:
        yield [a.account_id, "1" if a.attack else "0", a.persona,
               to_rfc3339(a.attack_start) if a.attack_start is not None else ""]
