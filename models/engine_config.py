"""How often the engine scores an account. Its own module so the runtime's settings can use the
defaults without importing the detectors (and river) at start-up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    score_every: int = 25          # score an account after this many new events...
    score_interval_s: float = 3600.0  # ...or this much event time since its last score
    learn_below_risk: float = 50.0  # population norms learn only from accounts below this risk
    disabled: tuple[str, ...] = ()  # signal families switched off (eval ablation): see FAMILIES
    alert_fpr: float = 0.01         # benign accounts alerted, at most (models.calibration, labels)
