"""The pure enforcement policy: bands to actions, scopes (IP only when asked for), shadow
rules, allowlist, configuration, and reconciling plans with the decisions in force."""

import pytest
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import (
    HOUR,
    SCOPE_TYPES,
    ActionRule,
    InForce,
    PolicyConfig,
    decision_id,
    plan,
    reconcile,
)


def update(severity="high", risk=85.0, codes=("logprob_harvesting",), account="acct-a",
           keys=("key-1",), ips=("10.0.0.1",), event_ts=1_800_000_000.0, seq=25):
    return RiskUpdate(account_id=account, seq=seq, risk=risk, severity=severity,
                      reasons=[Reason(c, f"{c} text", 0.9) for c in codes], event_ts=event_ts,
                      recent_api_keys=list(keys), recent_source_ips=list(ips))


def actions(planned):
    return {(p.scope_type, p.scope_value, p.action, p.ttl_s) for p in planned}


def test_bands_map_to_actions_on_account_and_key_by_default():
    assert plan(update("low", 10.0)) == []
    assert actions(plan(update("medium", 60.0, codes=()))) == {
        ("account", "acct-a", "monitor", HOUR), ("api_key", "key-1", "monitor", HOUR)}
    assert {a[2:] for a in actions(plan(update("high", codes=("unlike_peers",))))} == {
        ("throttle", 6 * HOUR)}
    assert {a[2:] for a in actions(plan(update("high")))} == {
        ("throttle", 6 * HOUR), ("strip_logprobs", 6 * HOUR)}
    assert {a[2:] for a in actions(plan(update("critical", 97.0)))} == {("block", 24 * HOUR)}


def test_reason_names_codes_only():
    planned = plan(update("critical", 97.0, codes=("logprob_harvesting", "unlike_peers")))
    assert planned[0].reason == "critical risk 97: logprob_harvesting, unlike_peers"


def test_allowlisted_accounts_get_nothing():
    assert plan(update("critical", 99.0), allowlisted=True) == []


def test_scopes_are_configurable_bounded_and_clean():
    cfg = PolicyConfig(scopes=("account", "api_key"), max_values_per_scope=2)
    planned = plan(update("medium", 60.0, keys=("k1", "k2", "k3", "k1"), ips=("1.2.3.4",)), cfg)
    assert [(p.scope_type, p.scope_value) for p in planned] == [
        ("account", "acct-a"), ("api_key", "k1"), ("api_key", "k2")]
    dirty = update("medium", 60.0, keys=("", "k" * 129, "nul\x00key", "ok"), ips=())
    assert [p.scope_value for p in plan(dirty)] == ["acct-a", "ok"]
    assert plan(update("critical", 99.0, account="a" * 129)) == []


def test_stale_evidence_yields_nothing_when_configured():
    cfg = PolicyConfig(max_evidence_age_s=24 * HOUR)
    u = update("critical", 99.0, event_ts=1_000.0)
    assert plan(u, cfg, now=1_000.0 + 25 * HOUR) == []
    assert plan(u, cfg, now=1_000.0 + 1 * HOUR)
    assert plan(u, now=1_000.0 + 1000 * HOUR)  # default: no age limit


def test_custom_rules_and_validation():
    cfg = PolicyConfig(medium=(), high=(ActionRule("monitor", 60),),
                       critical=(ActionRule("throttle", 120), ActionRule("block", 600)))
    assert plan(update("medium", 60.0), cfg) == []
    assert {p.action for p in plan(update("critical", 99.0), cfg)} == {"throttle", "block"}
    with pytest.raises(ValueError, match="unknown action"):
        PolicyConfig(high=(ActionRule("ban", 60),))
    with pytest.raises(ValueError, match="positive"):
        PolicyConfig(high=(ActionRule("block", 0),))
    with pytest.raises(ValueError, match="unknown scopes"):
        PolicyConfig(scopes=("email",))


def test_ip_scope_only_by_explicit_policy():
    critical = update("critical", 99.0, ips=("203.0.113.7", "198.51.100.2"))
    assert all(p.scope_type != "ip" for p in plan(critical))  # never by default
    everywhere = PolicyConfig(scopes=SCOPE_TYPES)
    assert {p.scope_value for p in plan(critical, everywhere) if p.scope_type == "ip"} == {
        "203.0.113.7", "198.51.100.2"}
    # or per rule: block IPs for a short time only, the account for a day
    per_rule = PolicyConfig(critical=(ActionRule("block", 24 * HOUR),
                                      ActionRule("block", HOUR, scopes=("ip",))))
    assert {(p.scope_type, p.ttl_s) for p in plan(critical, per_rule)} == {
        ("account", 24 * HOUR), ("api_key", 24 * HOUR), ("ip", HOUR)}


def test_shadow_rules_plan_flagged_actions():
    cfg = PolicyConfig(critical=(ActionRule("throttle", 6 * HOUR),
                                 ActionRule("block", 24 * HOUR, shadow=True)))
    planned = plan(update("critical", 99.0), cfg)
    assert {(p.action, p.shadow) for p in planned} == {("throttle", False), ("block", True)}


def _in_force(steps):
    return [(s.op, s.action.action if s.action else None) for s in steps]


def test_reconcile_escalates_extends_and_holds_back():
    now = 1_000_000.0
    high, critical = update("high", 85.0, seq=25), update("critical", 97.0, seq=50)
    in_force: dict = {}
    cfg = PolicyConfig(scopes=("account",))
    first = reconcile(high, plan(high, cfg), in_force, now)
    assert _in_force(first) == [("add", "throttle"), ("add", "strip_logprobs")]
    # the same band again, with most of the TTL left: nothing; near expiry: extended
    assert reconcile(high, plan(high, cfg), in_force, now + HOUR) == []
    extended = reconcile(high, plan(high, cfg), in_force, now + 4 * HOUR)
    assert _in_force(extended) == [("extend", "throttle"), ("extend", "strip_logprobs")]
    assert in_force[("account", "acct-a", False)]["throttle"].expires_ts == now + 10 * HOUR
    # a block supersedes both; a later high adds nothing under it
    steps = reconcile(critical, plan(critical, cfg), in_force, now + 5 * HOUR)
    assert [s.op for s in steps] == ["supersede", "supersede", "add"]
    assert {s.decision_id for s in steps if s.op == "supersede"} == {
        s.decision_id for s in first}
    assert reconcile(high, plan(high, cfg), in_force, now + 5 * HOUR) == []


def test_shadow_decisions_live_apart_from_enforced_ones():
    now = 1_000_000.0
    cfg = PolicyConfig(scopes=("account",), critical=(ActionRule("block", 24 * HOUR,
                                                                 shadow=True),))
    in_force = {("account", "acct-a", False): {
        "throttle": InForce("t-1", "throttle", now + 5 * HOUR)}}
    critical = update("critical", 99.0, seq=50)
    steps = reconcile(critical, plan(critical, cfg), in_force, now)
    assert [s.op for s in steps] == ["add"]  # the enforced throttle is neither replaced ...
    assert in_force[("account", "acct-a", False)]["throttle"].decision_id == "t-1"
    assert steps[0].decision_id == decision_id("account", "acct-a", "block", "acct-a", 50,
                                               shadow=True)
    assert steps[0].decision_id != decision_id("account", "acct-a", "block", "acct-a", 50)
    high = update("high", 85.0, seq=75, codes=())
    steps = reconcile(high, plan(high, cfg), in_force, now + 4 * HOUR)
    assert _in_force(steps) == [("extend", "throttle")]  # ... nor held back by the shadow block
