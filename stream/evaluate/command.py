"""`distillguard eval`: simulate (or read) labelled traffic, replay it in text and text-free
modes through ours and the baselines, write report.md + PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from distillguard.stream.evaluate.report import markdown, measure, plot_all
from distillguard.stream.evaluate.runner import Label, RunResult, read_labels, run
from distillguard.stream.simulate.generator import SimConfig, generate

FEEDBACK_SHARE = 0.5  # "with feedback" row: this share of our alerts gets an analyst's label


def _simulated(cfg: SimConfig) -> tuple[list[bytes], dict[str, Label], list[str]]:
    accounts, events = generate(cfg)
    encode = msgspec.json.Encoder().encode
    lines = [encode(e) for e in events]
    labels = {a.account_id: Label(a.attack, a.persona, a.attack_start) for a in accounts}
    examples: dict[str, str] = {}
    for a in accounts:
        examples.setdefault(a.persona, a.account_id)
    return lines, labels, list(examples.values())


def _strip_text(line: bytes) -> bytes:
    event = json.loads(line)
    if isinstance(event, dict) and isinstance(event.get("prompt"), dict):
        event["prompt"].pop("text", None)
    return json.dumps(event).encode()


def ablation(lines: list[bytes], stripped: list[bytes], labels: dict[str, Label],
             progress: bool) -> list[str]:
    """With and without each signal family (and each river model): a Markdown table."""
    from distillguard.models.detectors.rules import FAMILIES
    from distillguard.models.engine import EngineConfig

    out = ["", "## Ablation: without each signal family / model", "",
           "| without | text ROC-AUC | text alerted attackers | text alerted benign | "
           "text-free ROC-AUC | text-free alerted attackers | text-free alerted benign |",
           "|---|---|---|---|---|---|---|"]
    for family in ("(nothing)", *FAMILIES):
        cells = []
        for data in (lines, stripped):
            config = EngineConfig(disabled=() if family == "(nothing)" else (family,))
            r = run(data, labels, len(data), config=config, progress=progress, baselines=False)
            row = measure("", r, r.detectors[0])
            cells += [f"{row.roc_auc:.3f}", f"{row.alert_recall:.1%}", f"{row.alert_fpr:.1%}"]
        name = {"river": "river (both models)", "peers": "peers (river HalfSpaceTrees)",
                "verdicts": "verdicts (river LogisticRegression)",
                "groups": "groups (campaign stage)",
                "norms": "norms (population thresholds -> prior)"}.get(family, family)
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def evaluate(out_dir: Path, cfg: SimConfig, events_file: Path | None = None,
             labels_file: Path | None = None, progress: bool = True,
             ablation_rows: bool = False) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if events_file is not None:
        lines = events_file.read_bytes().splitlines()
        labels = read_labels(labels_file)
        examples = list({lab.scenario: a for a, lab in labels.items()}.values())
    else:
        lines, labels, examples = _simulated(cfg)
    stripped = [_strip_text(x) for x in lines]
    runs: dict[str, RunResult] = {
        "text": run(lines, labels, len(lines), track=examples, progress=progress),
        "text-free": run(stripped, labels, len(lines), progress=progress),
    }
    with_feedback = run(lines, labels, len(lines), progress=progress, label_share=FEEDBACK_SHARE,
                        baselines=False)
    rows = [measure(mode, r, det) for mode, r in runs.items() for det in r.detectors]
    rows.insert(1, measure(f"text, {FEEDBACK_SHARE:.0%} of alerts labelled", with_feedback,
                           with_feedback.detectors[0]))
    plots = plot_all(out_dir, runs)
    n_attack = sum(lab.attack for lab in labels.values())
    source = f"file {events_file}" if events_file else (
        f"simulator seed {cfg.seed}, {cfg.accounts} accounts + hydra of {cfg.hydra_size}"
        + (f" + weakly linked campaign of {cfg.campaign_size}, prompt text from {cfg.corpus}"
           if cfg.corpus else ", built-in vocabulary") + f", {cfg.hours:g} h")
    setup = (f"{runs['text'].events} events, {len(labels)} accounts ({n_attack} attackers) from "
             f"{source}. Ours: alerts at risk >= 80; scores are each account's final risk. "
             "Baselines run on the same events in the same pass.")
    report = out_dir / "report.md"
    text = markdown(rows, "distillguard evaluation", setup, plots)
    if ablation_rows:
        text += "\n".join(ablation(lines, stripped, labels, progress)) + "\n"
    report.write_text(text)
    (out_dir / "report.json").write_text(json.dumps([r.__dict__ for r in rows], default=str,
                                                    indent=1))
    return report
