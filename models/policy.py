"""Enforcement policy: which actions a risk update calls for, on which scopes, for how long.

Pure (no clock, no I/O) so every rule is testable on its own; `stream/decider.py` supplies the
time and the allowlist and makes the result durable. Bands come from models/scoring.py:

    medium   -> monitor          1 h    (watch more closely, no customer impact)
    high     -> throttle         6 h    (+ strip_logprobs 6 h when logprob harvesting is a reason)
    critical -> block           24 h

Each action applies to the account and to the account's recent API keys and client IPs, where
an operator's gateway can enforce it. Allowlisted accounts get nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from distillguard.models.outcomes import RiskUpdate

HOUR = 3600.0
ACTIONS = ("monitor", "throttle", "strip_logprobs", "block")
SCOPE_TYPES = ("account", "api_key", "ip")
# A decision replaces weaker ones on its scope and is not added while a stronger one is active.
# throttle and strip_logprobs are different levers of the same strength, so they coexist.
STRENGTH = {"monitor": 0, "throttle": 1, "strip_logprobs": 1, "block": 2}


@dataclass(frozen=True)
class ActionRule:
    action: str
    ttl_s: float
    if_reason: str | None = None     # only when the update has a reason with this code


@dataclass(frozen=True)
class PolicyConfig:
    medium: tuple[ActionRule, ...] = (ActionRule("monitor", 1 * HOUR),)
    high: tuple[ActionRule, ...] = (
        ActionRule("throttle", 6 * HOUR),
        ActionRule("strip_logprobs", 6 * HOUR, if_reason="logprob_harvesting"),
    )
    critical: tuple[ActionRule, ...] = (ActionRule("block", 24 * HOUR),)
    scopes: tuple[str, ...] = SCOPE_TYPES
    max_values_per_scope: int = 5    # recent api keys / IPs to act on, most recent first
    # Evidence older than this (event time vs. now) yields no decision: it keeps a first start on
    # a long risk topic from enforcing on month-old behaviour. None = act on any update.
    max_evidence_age_s: float | None = None
    # An active decision is extended (and re-announced) only once less than this share of its
    # TTL is left, so a steadily risky account does not churn the bouncers on every update.
    extend_below_fraction: float = 0.5

    def __post_init__(self) -> None:
        for rule in (*self.medium, *self.high, *self.critical):
            if rule.action not in ACTIONS:
                raise ValueError(f"unknown action {rule.action!r}; known: {', '.join(ACTIONS)}")
            if not rule.ttl_s > 0:
                raise ValueError(f"ttl of {rule.action} must be positive, got {rule.ttl_s}")
        unknown = set(self.scopes) - set(SCOPE_TYPES)
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; known: {', '.join(SCOPE_TYPES)}")
        if not 0 <= self.extend_below_fraction <= 1:
            raise ValueError("extend_below_fraction must be within 0..1")

    def rules_for(self, severity: str) -> tuple[ActionRule, ...]:
        return {"medium": self.medium, "high": self.high, "critical": self.critical}.get(
            severity, ())


@dataclass(frozen=True)
class PlannedAction:
    scope_type: str
    scope_value: str
    action: str
    ttl_s: float
    reason: str


DEFAULT_POLICY = PolicyConfig()


def plan(update: RiskUpdate, config: PolicyConfig = DEFAULT_POLICY, *, allowlisted: bool = False,
         now: float | None = None) -> list[PlannedAction]:
    """The actions `update` calls for. `now` (epoch s) matters only with max_evidence_age_s."""
    if allowlisted or not _usable(update.account_id):
        return []
    codes = {r.code for r in update.reasons}
    rules = [r for r in config.rules_for(update.severity)
             if r.if_reason is None or r.if_reason in codes]
    if config.max_evidence_age_s is not None and now is not None \
            and now - update.event_ts > config.max_evidence_age_s:
        return []
    if not rules:
        return []
    reason = _reason(update)
    return [PlannedAction(scope_type, value, rule.action, rule.ttl_s, reason)
            for scope_type, value in scopes_of(update, config)
            for rule in rules]


def scopes_of(update: RiskUpdate, config: PolicyConfig = DEFAULT_POLICY) -> list[tuple[str, str]]:
    """(scope_type, value) pairs to act on; empty and repeated values are skipped."""
    values = {"account": [update.account_id],
              "api_key": update.recent_api_keys[:config.max_values_per_scope],
              "ip": update.recent_source_ips[:config.max_values_per_scope]}
    out: list[tuple[str, str]] = []
    for scope_type in config.scopes:
        for value in values[scope_type]:
            if _usable(value) and (scope_type, value) not in out:
                out.append((scope_type, value))
    return out


def _usable(value: str) -> bool:
    """Fits the decisions table (128 chars, no NUL, which PostgreSQL text rejects): a value that
    does not would fail the write on every retry and stall the decider."""
    return 0 < len(value) <= 128 and "\x00" not in value


def _reason(update: RiskUpdate) -> str:
    """Codes only (stable, short, never evidence text), bounded to the column's 256 chars."""
    codes = ", ".join(r.code for r in update.reasons) or "no reason codes"
    return f"{update.severity} risk {update.risk:g}: {codes}"[:256]
