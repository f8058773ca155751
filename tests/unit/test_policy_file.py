"""The enforcement policy from a YAML or JSON file: defaults, overrides, and one-line errors that
name the bad key; `distillguard policy check` and `run` refuse a bad file before starting."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from distillguard.models.policy import DEFAULT_POLICY, HOUR, ActionRule
from distillguard.models.policy_file import PolicyError, parse_duration, policy_from_dict, policy_to_dict
from distillguard.stream.cli import main
from distillguard.stream.decider import load_policy

YAML = """
scopes: [account, api_key]
max_evidence_age: 2d
rules:
  critical:
    - {action: block, ttl: 24h}
    - {action: block, ttl: 30m, scopes: [ip], shadow: true}
"""


def test_yaml_overrides_and_keeps_defaults(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(YAML)
    policy = load_policy(str(path))
    assert policy.critical == (ActionRule("block", 24 * HOUR),
                               ActionRule("block", 1800.0, scopes=("ip",), shadow=True))
    assert policy.high == DEFAULT_POLICY.high and policy.medium == DEFAULT_POLICY.medium
    assert policy.max_evidence_age_s == 2 * 86400
    assert load_policy("") == DEFAULT_POLICY


def test_json_and_round_trip(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy_to_dict(DEFAULT_POLICY)))
    assert load_policy(str(path)) == DEFAULT_POLICY
    assert policy_to_dict(DEFAULT_POLICY)["scopes"] == ["account", "api_key"]  # no IPs
    assert policy_from_dict({"rules": {"medium": []}}).medium == ()


@pytest.mark.parametrize(("doc", "message"), [
    ({"scope": ["account"]}, "policy: unknown key 'scope'; known: scopes,"),
    ({"scopes": ["account", "email"]}, "scopes[1]: unknown scope 'email'"),
    ({"scopes": []}, "scopes: expected a non-empty list"),
    ({"rules": {"severe": []}}, "rules: unknown key 'severe'; known: medium, high, critical"),
    ({"rules": {"high": {"action": "block"}}}, "rules.high: expected a list of rules"),
    ({"rules": {"high": [{"action": "throttle", "ttl": "6h"}, {"action": "ban", "ttl": 60}]}},
     "rules.high[1].action: unknown action 'ban'; known: monitor, throttle"),
    ({"rules": {"high": [{"action": "throttle"}]}}, "rules.high[0]: missing key 'ttl'"),
    ({"rules": {"high": [{"action": "throttle", "ttl": "six hours"}]}},
     "rules.high[0].ttl: expected a duration like 6h or 30d, got 'six hours'"),
    ({"rules": {"high": [{"action": "throttle", "ttl": -5}]}}, "rules.high[0].ttl: must be positive"),
    ({"rules": {"high": [{"action": "throttle", "ttl": 60, "if_reason": "logprobs"}]}},
     "rules.high[0].if_reason: unknown reason code 'logprobs'"),
    ({"rules": {"high": [{"action": "throttle", "ttl": 60, "shadow": "yes"}]}},
     "rules.high[0].shadow: expected true or false"),
    ({"rules": {"high": [{"action": "throttle", "ttl": 60, "ip": True}]}},
     "rules.high[0]: unknown key 'ip'"),
    ({"max_values_per_scope": 0}, "max_values_per_scope: expected a whole number >= 1"),
    ({"extend_below_fraction": 2}, "extend_below_fraction: expected a number within 0..1"),
    (["block"], "policy: expected a mapping, got list"),
])
def test_errors_name_the_key(doc, message):
    with pytest.raises(PolicyError) as err:
        policy_from_dict(doc)
    assert str(err.value).startswith(message), str(err.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(PolicyError, match=r"policy file .*missing.yaml: cannot read it"):
        load_policy(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"scopes": [')
    with pytest.raises(PolicyError, match=r"bad.json: not valid JSON"):
        load_policy(str(bad))
    worse = tmp_path / "bad.yaml"
    worse.write_text("rules:\n  high:\n    - {action: ban, ttl: 1h}\n")
    with pytest.raises(PolicyError, match=r"bad.yaml: rules.high\[0\].action: unknown action"):
        load_policy(str(worse))


def test_durations():
    assert [parse_duration(v) for v in ("90s", "30m", "6h", "1.5d", "2w", 45)] == [
        90, 1800, 21600, 129600, 1209600, 45]
    for bad in ("6 hours", "h", True, None, "0s"):
        with pytest.raises(PolicyError):
            parse_duration(bad)


def test_policy_check_command(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(YAML)
    bad.write_text("rules: {high: [{action: throttle, ttl: 6h, scope: [ip]}]}\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["rules"]["critical"][1] == {
        "action": "block", "ttl": "30m", "scopes": ["ip"], "shadow": True}
    refused = runner.invoke(main, ["policy", "check", str(bad)])
    assert refused.exit_code == 2
    assert "rules.high[0]: unknown key 'scope'" in refused.output
    assert "Traceback" not in refused.output


def test_run_refuses_a_bad_policy_before_starting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: {critical: [{action: nuke, ttl: 1h}]}\n")
    result = CliRunner().invoke(main, ["run"], env={"DISTILLGUARD_POLICY_FILE": str(bad)})
    assert result.exit_code == 2
    assert "rules.critical[0].action: unknown action 'nuke'" in result.output
