"""Fuse reasons into one 0..100 risk score and a severity band.

Fusion is a noisy-OR of weighted strengths: independent evidence adds up, no single weak signal
reaches a high band alone, and the score is bounded. Bands:

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


def fuse(weighted: list[tuple[Reason, float]]) -> tuple[float, list[Reason]]:
    """Risk 0..100 and the reasons sorted by contribution, strongest first."""
    keep = 1.0
    for reason, weight in weighted:
        keep *= 1.0 - min(1.0, max(0.0, reason.strength * weight))
    ordered = [r for r, w in sorted(weighted, key=lambda rw: rw[0].strength * rw[1], reverse=True)]
    return round(100.0 * (1.0 - keep), 1), ordered


def rank(severity: str) -> int:
    return [name for name, _ in reversed(BANDS)].index(severity) if severity else -1
