"""Enforcement policy: which actions a risk update calls for, on which scopes, for how long, and
how they combine with the decisions already in force.

Pure (no clock, no I/O) so every rule is testable on its own; `stream/decider.py` supplies the
time, the allowlist and the decisions in force, and `sinks/decisions.py` only writes the steps
`reconcile` returns. Default bands (models/scoring.py):

    medium   -> monitor          1 h    (watch more closely, no customer impact)
    high     -> throttle         6 h    (+ strip_logprobs 6 h when logprob harvesting is a reason)
    critical -> block           24 h

By default an action applies to the account and its recent API keys, never to client IPs:
those are often NAT or cloud egress shared with other customers, so IP scope has to be asked
for (per policy or per rule). A rule in `shadow` mode is recorded (flagged) but never sent to
bouncers, to see what it would do before it does it. Allowlisted accounts get nothing.
The file form of a policy is parsed and validated by models/policy_file.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from distillguard.models.outcomes import RiskUpdate

HOUR = 3600.0
ACTIONS = ("monitor", "throttle", "strip_logprobs", "block")
SCOPE_TYPES = ("account", "api_key", "ip")
DEFAULT_SCOPES = ("account", "api_key")
# A decision replaces weaker ones on its scope and is not added while a stronger one is active.
# throttle and strip_logprobs are different levers of the same strength, so they coexist.
STRENGTH = {"monitor": 0, "throttle": 1, "strip_logprobs": 1, "block": 2}


@dataclass(frozen=True)
class ActionRule:
    action: str
    ttl_s: float
    if_reason: str | None = None            # only when the update has a reason with this code
    scopes: tuple[str, ...] | None = None   # None: the policy's scopes
    shadow: bool = False                    # recorded, flagged, never enforced


@dataclass(frozen=True)
class PolicyConfig:
    medium: tuple[ActionRule, ...] = (ActionRule("monitor", 1 * HOUR),)
    high: tuple[ActionRule, ...] = (
        ActionRule("throttle", 6 * HOUR),
        ActionRule("strip_logprobs", 6 * HOUR, if_reason="logprob_harvesting"),
    )
    critical: tuple[ActionRule, ...] = (ActionRule("block", 24 * HOUR),)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
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
            _check_scopes(rule.scopes or ())
        _check_scopes(self.scopes)
        if not 0 <= self.extend_below_fraction <= 1:
            raise ValueError("extend_below_fraction must be within 0..1")
        if self.max_values_per_scope < 1:
            raise ValueError("max_values_per_scope must be at least 1")

    def rules_for(self, severity: str) -> tuple[ActionRule, ...]:
        return {"medium": self.medium, "high": self.high, "critical": self.critical}.get(
            severity, ())


def _check_scopes(scopes: tuple[str, ...]) -> None:
    unknown = set(scopes) - set(SCOPE_TYPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {', '.join(SCOPE_TYPES)}")


@dataclass(frozen=True)
class PlannedAction:
    scope_type: str
    scope_value: str
    action: str
    ttl_s: float
    reason: str
    shadow: bool = False


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
    reason = _reason(update)
    return [PlannedAction(scope_type, value, rule.action, rule.ttl_s, reason, rule.shadow)
            for rule in rules
            for scope_type, value in scopes_of(update, config, rule.scopes)]


def scopes_of(update: RiskUpdate, config: PolicyConfig = DEFAULT_POLICY,
              scopes: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(scope_type, value) pairs to act on; empty and repeated values are skipped."""
    values = {"account": [update.account_id],
              "api_key": update.recent_api_keys[:config.max_values_per_scope],
              "ip": update.recent_source_ips[:config.max_values_per_scope]}
    out: list[tuple[str, str]] = []
    for scope_type in config.scopes if scopes is None else scopes:
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


# -- planned actions against the decisions in force ------------------------------------------

@dataclass
class InForce:
    """A decision in force on one scope, as much as reconciling needs of it."""

    decision_id: str
    action: str
    expires_ts: float


# (scope_type, scope_value, shadow) -> {action: decision}. Shadow decisions live apart, so a
# simulated block never replaces or holds back an enforced throttle on the same scope.
Scopes = dict[tuple[str, str, bool], dict[str, InForce]]


@dataclass(frozen=True)
class Step:
    op: str                  # "add" | "extend" (to expires_ts) | "supersede" (delete now)
    decision_id: str
    action: PlannedAction | None = None    # add and extend: the action behind the step
    expires_ts: float = 0.0


def decision_id(scope_type: str, scope_value: str, action: str, account_id: str,
                risk_seq: int, shadow: bool = False) -> str:
    """Deterministic: the same risk update always yields the same ids (replays upsert, not add)."""
    parts = (scope_type, scope_value, action, account_id, str(risk_seq)) + (
        ("shadow",) if shadow else ())
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def reconcile(update: RiskUpdate, planned: list[PlannedAction], in_force: Scopes, now: float,
              extend_below: float = 0.5) -> list[Step]:
    """The steps that bring `in_force` (updated in place) in line with `planned` at `now`.

    A stronger decision in force holds weaker ones back; the same action is extended only once
    less than `extend_below` of its TTL is left; a stronger one supersedes weaker ones.
    """
    steps: list[Step] = []
    for action in planned:
        on_scope = in_force.setdefault((action.scope_type, action.scope_value, action.shadow), {})
        strength = STRENGTH[action.action]
        if any(STRENGTH[a] > strength for a in on_scope):
            continue
        current = on_scope.get(action.action)
        if current is not None:
            if current.expires_ts - now < action.ttl_s * extend_below:
                current.expires_ts = now + action.ttl_s
                steps.append(Step("extend", current.decision_id, action, current.expires_ts))
            continue
        for weaker, decision in list(on_scope.items()):
            if STRENGTH[weaker] < strength:
                del on_scope[weaker]
                steps.append(Step("supersede", decision.decision_id))
        new = InForce(decision_id(action.scope_type, action.scope_value, action.action,
                                  update.account_id, update.seq, action.shadow),
                      action.action, now + action.ttl_s)
        on_scope[action.action] = new
        steps.append(Step("add", new.decision_id, action, new.expires_ts))
    return steps
