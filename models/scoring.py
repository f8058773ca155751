"""Fuse reasons into one 0..100 risk score and a severity band.

Fusion is a noisy-OR of weighted strengths: independent evidence adds up, no single weak signal
reaches a high band alone, and the score is bounded. Context (when and how an account sends,
how new it is, how it sits among the population: timing rules, account age, release chasing,
the river models) describes automation that harnesses, batch jobs and labellers share with
harvesters; it is fused apart and counts for at most CONTEXT_CAP, so it can lift behaviour
evidence but never add up to an alert with one medium behaviour (reasoning asks: 60 + context
35% of the rest = 74). Bands:

    low       0-49  nothing unusual enough to act on
    medium   50-79  unusual; worth a look, no alert
    high     80-94  behaviour of an extraction campaign; alert
    critical 95-100 several strong signals together; alert, act now
"""

from __future__ import annotations

from distillguard.models.outcomes import Reason

BANDS = (("critical", 95.0), ("high", 80.0), ("medium", 50.0), ("low", 0.0))
ALERT_SEVERITIES = ("high", "critical")


def severity_of(risk: float) -> str:
    for name, floor in BANDS:
        if risk >= floor:
            return name
    return "low"


CONTEXT = frozenset({"scripted_around_the_clock", "rate_held_under_quota", "new_account_volume",
                     "release_chasing", "unlike_peers", "resembles_harvesters"})
CONTEXT_CAP = 0.35


def fuse(weighted: list[tuple[Reason, float]]) -> tuple[float, list[Reason]]:
    """Risk 0..100 and the reasons sorted by contribution, strongest first."""
    keep = context = 1.0
    for reason, weight in weighted:
        if reason.code in CONTEXT:
            context *= 1.0 - min(1.0, max(0.0, reason.strength * weight))
        else:
            keep *= 1.0 - min(1.0, max(0.0, reason.strength * weight))
    keep *= 1.0 - min(CONTEXT_CAP, 1.0 - context)
    ordered = [r for r, w in sorted(weighted, key=lambda rw: rw[0].strength * rw[1], reverse=True)]
    return round(100.0 * (1.0 - keep), 1), ordered


def rank(severity: str) -> int:
    return [name for name, _ in reversed(BANDS)].index(severity) if severity else -1
