"""The pure enforcement policy: bands to actions, scopes, allowlist, configuration."""

import pytest
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import HOUR, ActionRule, PolicyConfig, plan


def update(severity="high", risk=85.0, codes=("logprob_harvesting",), account="acct-a",
           keys=("key-1",), ips=("10.0.0.1",), event_ts=1_800_000_000.0, seq=25):
    return RiskUpdate(account_id=account, seq=seq, risk=risk, severity=severity,
                      reasons=[Reason(c, f"{c} text", 0.9) for c in codes], event_ts=event_ts,
                      recent_api_keys=list(keys), recent_source_ips=list(ips))


def actions(planned):
    return {(p.scope_type, p.scope_value, p.action, p.ttl_s) for p in planned}


def test_bands_map_to_actions_on_every_scope():
    assert plan(update("low", 10.0)) == []
    assert actions(plan(update("medium", 60.0, codes=()))) == {
        ("account", "acct-a", "monitor", HOUR), ("api_key", "key-1", "monitor", HOUR),
        ("ip", "10.0.0.1", "monitor", HOUR)}
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
