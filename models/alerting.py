"""Alert lifecycle inside the engine: one alert per account and reason group that escalates
instead of repeating, a new alert only after a cooldown, and analyst feedback that silences a
reason for an account until its behaviour changes.

Severity bands (see models.scoring): high >= 80 and critical >= 95 raise alerts.
"""

from __future__ import annotations

import hashlib

from distillguard.models.outcomes import Alert, Reason
from distillguard.models.profile import AccountProfile
from distillguard.models.scoring import ALERT_SEVERITIES, rank

COOLDOWN_S = 24 * 3600.0     # after a day without escalation a still-risky account re-alerts
SUPPRESSION_MARGIN = 0.25    # a silenced reason comes back when its strength rises this much
REASON_GROUPS = {
    "logprob_harvesting": "logit_extraction", "logit_bias_probing": "logit_extraction",
    "soft_label_harvesting": "logit_extraction",
    "reasoning_elicitation": "distillation", "multilingual_reasoning_sweep": "distillation",
    "extraction_shape": "distillation", "extraction_minority": "distillation",
    "templated_sweep": "distillation", "hydra_cluster": "campaign",
    "behaviour_drift": "behaviour_change", "unlike_peers": "behaviour_change",
    "resembles_harvesters": "distillation",
}


def group_of(reasons: list[Reason]) -> str:
    """The group of the strongest reason; automation-only signals group as 'automation'."""
    return REASON_GROUPS.get(reasons[0].code, "automation") if reasons else "automation"


def alert_id(account_id: str, group: str, opened_ts: float) -> str:
    """Deterministic (event time, not wall clock): a replay upserts the same alert."""
    key = f"{account_id}\x00{group}\x00{opened_ts:.3f}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def suppress(p: AccountProfile, weighted: list[tuple[Reason, float]]) -> list[tuple[Reason, float]]:
    """Drop reasons an analyst marked false positive for this account, unless they grew since."""
    if not p.suppressed:
        return weighted
    return [(r, w) for r, w in weighted
            if r.code not in p.suppressed or r.strength >= p.suppressed[r.code] + SUPPRESSION_MARGIN]


def maybe_alert(p: AccountProfile, risk: float, severity: str, reasons: list[Reason],
                trigger_event_id: str) -> Alert | None:
    """The alert to publish now, if any: a new one, or an escalation of the open one."""
    if severity not in ALERT_SEVERITIES:
        return None
    group = group_of(reasons)
    state = p.open_alerts.get(group)  # [alert_id, severity, opened_ts, last_ts, escalations]
    now = p.last_ts
    if state is not None and now - state[3] < COOLDOWN_S:
        if rank(severity) <= rank(state[1]):
            return None
        state[1], state[3], state[4] = severity, now, state[4] + 1  # escalation, same alert
    else:
        state = [alert_id(p.account_id, group, now), severity, now, now, 0]
    p.open_alerts[group] = state
    if p.first_alert_ts is None:
        p.first_alert_ts = now
    return Alert(alert_id=state[0], account_id=p.account_id, severity=severity, risk=risk,
                 reasons=reasons, event_ts=now, seq=p.events, trigger_event_id=trigger_event_id,
                 reason_group=group, window_start=p.first_ts, window_end=now,
                 example_event_ids=list(p.flagged_event_ids), escalations=state[4])


def apply_label(p: AccountProfile, label: str, reason_codes: list[str],
                strengths: dict[str, float]) -> None:
    """An analyst's verdict on an alert of this account."""
    if label == "false_positive":
        for code in reason_codes:
            p.suppressed[code] = strengths.get(code, 1.0)
    elif label == "true_positive":
        for code in reason_codes:
            p.suppressed.pop(code, None)
