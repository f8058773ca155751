"""Assemble personas into one labelled, time-ordered stream of contract events."""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

from models.simhash import simhash64
from models.timestamps import to_rfc3339
from stream.simulate.personas import PERSONAS
from stream.simulate.vocabulary import MODELS, USER_AGENTS

DEFAULT_START = 1793491200.0  # 2026-11-01T00:00:00Z: fixed, so a seed gives the same file


@dataclass(frozen=True)
class SimAccount:
    account_id: str
    persona: str
    attack: bool
    n_events: int
    created_ts: float
    attack_start: float | None


@dataclass(frozen=True)
class SimConfig:
    accounts: int = 60
    attack_share: float = 0.15
    events: int = 20_000
    hours: float = 24.0
    seed: int = 7
    text: bool = True
    start: float = DEFAULT_START


def plan_accounts(cfg: SimConfig, rng: random.Random) -> list[SimAccount]:
    benign = [name for name, spec in PERSONAS.items() if not spec.attack]
    attacks = [name for name, spec in PERSONAS.items() if spec.attack]
    n_attack = max(1, round(cfg.accounts * cfg.attack_share)) if cfg.attack_share > 0 else 0
    personas = [attacks[i % len(attacks)] for i in range(n_attack)]
    personas += [benign[i % len(benign)] for i in range(cfg.accounts - n_attack)]
    rng.shuffle(personas)
    weights = [PERSONAS[p].volume * rng.lognormvariate(0, 0.4) for p in personas]
    scale = cfg.events / sum(weights)
    accounts = []
    for persona, weight in zip(personas, weights, strict=True):
        attack = PERSONAS[persona].attack
        created = cfg.start - (rng.uniform(0.1, 3) if attack else rng.uniform(30, 900)) * 86400
        accounts.append(SimAccount(
            account_id=f"acct_{rng.getrandbits(40):010x}", persona=persona, attack=attack,
            n_events=max(3, round(weight * scale)), created_ts=created,
            attack_start=cfg.start if attack else None))
    return accounts


def _account_events(cfg: SimConfig, acct: SimAccount, rng: random.Random) -> list[tuple]:
    persona = PERSONAS[acct.persona].fn
    key_id = f"key_{rng.getrandbits(24):06x}"
    ip = f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    agent, model = rng.choice(USER_AGENTS), rng.choice(MODELS)
    payment = hashlib.sha256(f"card-{acct.account_id}".encode()).hexdigest()[:32]
    rows = []
    for ts, req in persona(rng, acct.n_events, cfg.start, cfg.hours * 3600):
        text, system = req.pop("text"), req.pop("system", None)
        prompt = {"sha256": hashlib.sha256(text.encode()).hexdigest(),
                  "simhash": f"{simhash64(text):016x}", "chars": len(text),
                  "messages": req.pop("messages", 1)}
        if system:
            prompt["system_sha256"] = hashlib.sha256(system.encode()).hexdigest()
        if cfg.text:
            prompt["text"] = text
        event = {"event_id": f"{rng.getrandbits(128):032x}", "timestamp": to_rfc3339(ts),
                 "account_id": acct.account_id, "api_key_id": key_id, "source_ip": ip,
                 "asn": 64500 + rng.randrange(20), "country": "DE", "user_agent": agent,
                 "endpoint": "/v1/chat/completions", "model": model, "status_code": 200,
                 "latency_ms": round(rng.uniform(200, 9000), 1), "finish_reason": "stop",
                 "payment_fingerprint": payment, "account_created_at": to_rfc3339(acct.created_ts),
                 "prompt": prompt, **req}
        rows.append((ts, event["event_id"], event))
    return rows


def generate(cfg: SimConfig) -> tuple[list[SimAccount], Iterator[dict]]:
    """Accounts with their labels, and their events merged in event-time order."""
    rng = random.Random(cfg.seed)
    accounts = plan_accounts(cfg, rng)
    streams = [_account_events(cfg, a, random.Random(rng.getrandbits(64))) for a in accounts]
    merged = (event for _, _, event in heapq.merge(*streams, key=lambda row: (row[0], row[1])))
    return accounts, merged


def labels_csv_rows(accounts: list[SimAccount]) -> Iterator[list[str]]:
    yield ["account_id", "label", "scenario", "attack_start"]
    for a in accounts:
        yield [a.account_id, "1" if a.attack else "0", a.persona,
               to_rfc3339(a.attack_start) if a.attack_start is not None else ""]
