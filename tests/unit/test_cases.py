"""Behaviour cases as data (tests/cases/<name>/events.jsonl + expected.json), replayed through
the same path as `distillguard score` (stream.replay.replay_file). Regenerate the folders with
`python -m tests.cases.make_cases` (fixed seeds, built-in vocabulary)."""

import json
from pathlib import Path

import pytest
from distillguard.sinks.base import ListSink
from distillguard.stream.replay import replay_file

CASES = Path(__file__).parents[1] / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "events.jsonl").exists())


def test_every_case_folder_is_complete():
    assert len(NAMES) >= 10
    for name in NAMES:
        assert (CASES / name / "expected.json").exists(), name


@pytest.mark.parametrize("name", NAMES)
def test_case(name, tmp_path):
    expected = json.loads((CASES / name / "expected.json").read_text())
    result = replay_file(CASES / name / "events.jsonl", ListSink(), tmp_path / "dlq.jsonl",
                         progress=False)
    failures = []
    for check in expected["checks"]:
        if "accounts" in check:  # a group: this share of its members must alert
            risks = sorted(result.profiles[a].risk for a in check["accounts"])
            share = sum(r >= 80 for r in risks) / len(risks)
            if share < check["min_alerted_share"]:
                failures.append(f"{check['why']}: {share:.0%} alerted < "
                                f"{check['min_alerted_share']:.0%}; risks {risks}")
            continue
        profile = result.profiles[check["account"]]
        risk = profile.risk
        if "min_risk" in check and risk < check["min_risk"]:
            failures.append(f"{check['account']} ({check.get('why', name)}): risk {risk} < "
                            f"{check['min_risk']}; reasons {profile.reasons[:3]}")
        if "max_risk" in check and risk > check["max_risk"]:
            failures.append(f"{check['account']} ({check.get('why', name)}): risk {risk} > "
                            f"{check['max_risk']}; reasons {profile.reasons[:3]}")
    assert not failures, "\n".join(failures)
