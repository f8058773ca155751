"""`distillguard eval` on a small seed: the report has its parts, and ours beats every baseline."""

import json

from click.testing import CliRunner
from distillguard.stream.cli import main


def test_eval_report_structure_and_ours_beats_baselines(tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["eval", "--out", str(out), "--events", "9000",
                                       "--accounts", "50", "--hydra", "12", "--seed", "3"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    for section in ("## Account-level detection", "## Recall per attack scenario",
                    "## False-positive rate per benign persona",
                    "## Median detection delay per attack scenario", "## Plots"):
        assert section in report
    for png in ("roc.png", "delay_cdf.png", "risk_over_time.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({png})" in report
    rows = json.loads((out / "report.json").read_text())
    modes = {r["mode"] for r in rows}
    assert {"text", "text-free", "text, 50% of alerts labelled"} <= modes
    for mode in ("text", "text-free"):
        ours = next(r for r in rows if r["mode"] == mode and r["detector"] == "distillguard")
        baselines = [r for r in rows if r["mode"] == mode and r["detector"] != "distillguard"]
        assert len(baselines) == 3
        for b in baselines:
            assert ours["roc_auc"] > b["roc_auc"], (mode, b["detector"])
            assert ours["pr_auc"] > b["pr_auc"], (mode, b["detector"])
    assert {"hydra_member", "camouflaged", "logprob_harvester", "bulk_distiller",
            "reasoning_harvester", "turns_bad"} <= set(rows[0]["scenario_recall"])
    assert {"eval_harness", "batch_pipeline", "chat_backend"} <= set(rows[0]["persona_fpr"])


def test_eval_with_corpus_has_real_text_personas_and_ablation(tmp_path):
    from pathlib import Path

    import pytest

    corpus = Path(__file__).parents[2] / ".." / "shared" / "corpora"
    if not corpus.is_dir():
        pytest.skip("../shared/corpora is absent")
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["eval", "--out", str(out), "--events", "2500",
                                       "--accounts", "60", "--hydra", "4", "--seed", "4",
                                       "--corpus", str(corpus), "--ablation"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "## Ablation: without each signal family / model" in report
    assert "| peers (river HalfSpaceTrees) |" in report and "| groups (campaign stage) |" in report
    assert "| verdicts (river LogisticRegression) |" in report
    rows = json.loads((out / "report.json").read_text())
    assert {"weak_campaign_member", "agentic_harvest", "camouflaged"} <= set(
        rows[0]["scenario_recall"])
    assert {"bench_cot", "tutoring_app", "labelling_app"} <= set(rows[0]["persona_fpr"])
