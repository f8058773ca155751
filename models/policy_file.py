"""The enforcement policy as a document (YAML or JSON, see docs/secops.md), validated key by key.

Pure: it takes the decoded mapping (stream/decider.py reads the file). Every error names the
key it is about, e.g. `rules.high[1].action: unknown action 'ban'; known: monitor, ...`, and an
unknown key is an error rather than silently ignored. Keys left out keep their defaults; a band
left out of `rules` keeps its default rules, a band given as `[]` has none.
"""

from __future__ import annotations

import re
from typing import Any

from distillguard.models.detectors.rules import RULES
from distillguard.models.policy import (
    ACTIONS,
    DEFAULT_POLICY,
    SCOPE_TYPES,
    ActionRule,
    PolicyConfig,
)

BANDS = ("medium", "high", "critical")
TOP_KEYS = ("scopes", "max_values_per_scope", "max_evidence_age", "extend_below_fraction", "rules")
RULE_KEYS = ("action", "ttl", "if_reason", "scopes", "shadow")
REASON_CODES = frozenset(RULES) | {"unlike_peers", "resembles_harvesters", "hydra_cluster"}
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class PolicyError(ValueError):
    """The policy document is invalid; the message starts with the offending key."""


def parse_duration(value: Any, key: str = "duration") -> float:
    """Seconds from a number of seconds or `90s`, `30m`, `6h`, `30d`, `2w`; positive."""
    if isinstance(value, bool):
        raise PolicyError(f"{key}: expected a duration like 6h or 30d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise PolicyError(f"{key}: expected a duration like 6h or 30d, got {value!r}")
    if not seconds > 0:
        raise PolicyError(f"{key}: must be positive, got {value!r}")
    return seconds


def policy_from_dict(doc: Any) -> PolicyConfig:
    """A validated PolicyConfig from a decoded policy document."""
    _keys(doc, TOP_KEYS, "policy")
    d = DEFAULT_POLICY
    fields: dict[str, Any] = {
        "scopes": _scopes(doc.get("scopes", list(d.scopes)), "scopes"),
        "max_values_per_scope": _int(doc.get("max_values_per_scope", d.max_values_per_scope),
                                     "max_values_per_scope"),
        "max_evidence_age_s": None if doc.get("max_evidence_age") is None
        else parse_duration(doc["max_evidence_age"], "max_evidence_age"),
        "extend_below_fraction": _fraction(doc.get("extend_below_fraction",
                                                   d.extend_below_fraction)),
    }
    rules = doc.get("rules", {})
    _keys(rules, BANDS, "rules")
    for band in BANDS:
        if band in rules:
            items = rules[band]
            if not isinstance(items, list):
                raise PolicyError(f"rules.{band}: expected a list of rules, got {items!r}")
            fields[band] = tuple(_rule(r, f"rules.{band}[{i}]") for i, r in enumerate(items))
    try:
        return PolicyConfig(**fields)
    except ValueError as err:  # cross-field checks of PolicyConfig itself
        raise PolicyError(f"policy: {err}") from None


def _rule(doc: Any, key: str) -> ActionRule:
    _keys(doc, RULE_KEYS, key)
    for required in ("action", "ttl"):
        if required not in doc:
            raise PolicyError(f"{key}: missing key {required!r}")
    if doc["action"] not in ACTIONS:
        raise PolicyError(f"{key}.action: unknown action {doc['action']!r}; known: "
                          + ", ".join(ACTIONS))
    reason = doc.get("if_reason")
    if reason is not None and reason not in REASON_CODES:
        raise PolicyError(f"{key}.if_reason: unknown reason code {reason!r}; known: "
                          + ", ".join(sorted(REASON_CODES)))
    shadow = doc.get("shadow", False)
    if not isinstance(shadow, bool):
        raise PolicyError(f"{key}.shadow: expected true or false, got {shadow!r}")
    scopes = doc.get("scopes")
    return ActionRule(doc["action"], parse_duration(doc["ttl"], f"{key}.ttl"), reason,
                      None if scopes is None else _scopes(scopes, f"{key}.scopes"), shadow)


def _keys(doc: Any, known: tuple[str, ...], key: str) -> None:
    if not isinstance(doc, dict):
        raise PolicyError(f"{key}: expected a mapping, got {type(doc).__name__}")
    for name in doc:
        if name not in known:
            raise PolicyError(f"{key}: unknown key {name!r}; known: {', '.join(known)}")


def _scopes(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"{key}: expected a non-empty list of {', '.join(SCOPE_TYPES)}")
    for i, scope in enumerate(value):
        if scope not in SCOPE_TYPES:
            raise PolicyError(f"{key}[{i}]: unknown scope {scope!r}; known: "
                              + ", ".join(SCOPE_TYPES))
    return tuple(dict.fromkeys(value))


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{key}: expected a whole number >= 1, got {value!r}")
    return value


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise PolicyError(f"extend_below_fraction: expected a number within 0..1, got {value!r}")
    return float(value)


def policy_to_dict(policy: PolicyConfig) -> dict:
    """The document form of a policy (what `distillguard policy show` prints)."""
    def rule(r: ActionRule) -> dict:
        out: dict[str, Any] = {"action": r.action, "ttl": _duration_text(r.ttl_s)}
        if r.if_reason:
            out["if_reason"] = r.if_reason
        if r.scopes is not None:
            out["scopes"] = list(r.scopes)
        if r.shadow:
            out["shadow"] = True
        return out

    return {"scopes": list(policy.scopes), "max_values_per_scope": policy.max_values_per_scope,
            "max_evidence_age": None if policy.max_evidence_age_s is None
            else _duration_text(policy.max_evidence_age_s),
            "extend_below_fraction": policy.extend_below_fraction,
            "rules": {band: [rule(r) for r in policy.rules_for(band)] for band in BANDS}}


def _duration_text(seconds: float) -> str | float:
    for unit in ("w", "d", "h", "m", "s"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return seconds
