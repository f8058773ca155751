"""Turn replay results into measures, a Markdown report and PNG plots."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from distillguard.stream.evaluate.measures import pr_auc, quantiles, recall_at_fpr, roc_auc, roc_curve
from distillguard.stream.evaluate.runner import DetectorResult, RunResult

FPR_LEVELS = (0.001, 0.005, 0.01)


@dataclass
class Row:
    mode: str
    detector: str
    roc_auc: float
    pr_auc: float
    recall_at: dict[float, float]
    alert_recall: float
    alert_fpr: float
    delay_requests: list[float | None]
    delay_minutes: list[float | None]
    scenario_recall: dict[str, float]
    persona_fpr: dict[str, float]
    scenario_delay: dict[str, float | None]
    flagged_benign_at_end: float


def measure(mode: str, run: RunResult, det: DetectorResult) -> Row:
    accounts = [a for a in det.scores if a in run.labels]
    scores = np.array([det.scores[a] for a in accounts], dtype=float)
    labels = np.array([1 if run.labels[a].attack else 0 for a in accounts])
    alerted = {a for a in accounts if a in det.alerts}
    attackers = [a for a in accounts if run.labels[a].attack]
    benign = [a for a in accounts if not run.labels[a].attack]
    delays_req, delays_min = [], []
    scenario_delays: dict[str, list[float]] = defaultdict(list)
    for a in attackers:
        if a in det.alerts:
            ts, n = det.alerts[a]
            start = run.labels[a].attack_start or ts
            delays_req.append(max(0, n - run.requests_before_attack.get(a, 0)))
            delays_min.append(max(0.0, (ts - start) / 60))
            scenario_delays[run.labels[a].scenario].append(delays_req[-1])
    by_scenario, by_persona = defaultdict(list), defaultdict(list)
    for a in attackers:
        by_scenario[run.labels[a].scenario].append(a in alerted)
    for a in benign:
        by_persona[run.labels[a].scenario].append(a in alerted)
    return Row(mode, det.name, roc_auc(scores, labels), pr_auc(scores, labels),
               {f: recall_at_fpr(scores, labels, f) for f in FPR_LEVELS},
               len(alerted & set(attackers)) / max(len(attackers), 1),
               len(alerted & set(benign)) / max(len(benign), 1),
               quantiles(delays_req), quantiles(delays_min),
               {s: float(np.mean(v)) for s, v in sorted(by_scenario.items())},
               {p: float(np.mean(v)) for p, v in sorted(by_persona.items())},
               {s: quantiles(scenario_delays.get(s, []), (0.5,))[0] for s in sorted(by_scenario)},
               sum(det.scores[a] >= det.alert_at for a in benign) / max(len(benign), 1)
               if det.alert_at is not None else float("nan"))


def _f(x, fmt="{:.3f}") -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else fmt.format(x)


def markdown(rows: list[Row], title: str, setup: str, plots: list[str]) -> str:
    out = [f"# {title}", "", setup, "",
           "## Account-level detection", "",
           "| mode | detector | ROC-AUC | PR-AUC | recall@0.1% FPR | recall@0.5% FPR | "
           "recall@1% FPR | alerted attackers | alerted benign | benign still flagged at end | "
           "delay (requests) p50 / p90 | delay (minutes) p50 / p90 |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r.mode} | {r.detector} | {_f(r.roc_auc)} | {_f(r.pr_auc)} | "
            + " | ".join(_f(r.recall_at[f], "{:.1%}") for f in FPR_LEVELS)
            + f" | {_f(r.alert_recall, '{:.1%}')} | {_f(r.alert_fpr, '{:.1%}')} | "
            f"{_f(r.flagged_benign_at_end, '{:.1%}')} | "
            f"{_f(r.delay_requests[0], '{:.0f}')} / {_f(r.delay_requests[1], '{:.0f}')} | "
            f"{_f(r.delay_minutes[0], '{:.0f}')} / {_f(r.delay_minutes[1], '{:.0f}')} |")
    scenarios = sorted({s for r in rows for s in r.scenario_recall})
    personas = sorted({p for r in rows for p in r.persona_fpr})
    out += _breakdown("Recall per attack scenario (share of attacker accounts alerted)", rows,
                      scenarios, lambda r, k: _f(r.scenario_recall.get(k), "{:.0%}"))
    out += _breakdown("False-positive rate per benign persona (share of accounts alerted)", rows,
                      personas, lambda r, k: _f(r.persona_fpr.get(k), "{:.1%}"))
    out += _breakdown("Median detection delay per attack scenario (attacker requests)", rows,
                      scenarios, lambda r, k: _f(r.scenario_delay.get(k), "{:.0f}"))
    out += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(out) + "\n"


def _breakdown(title: str, rows: list[Row], keys: list[str], cell) -> list[str]:
    """A Markdown table: one line per (mode, detector), one column per key."""
    return (["", f"## {title}", "", "| mode | detector | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
            + [f"| {r.mode} | {r.detector} | " + " | ".join(cell(r, k) for k in keys) + " |"
               for r in rows])


def plot_all(out_dir: Path, runs: dict[str, RunResult]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 5), squeeze=False)
    for ax, (mode, run) in zip(axes[0], runs.items(), strict=True):
        for det in run.detectors:
            accts = [a for a in det.scores if a in run.labels]
            s = np.array([det.scores[a] for a in accts], dtype=float)
            y = np.array([1 if run.labels[a].attack else 0 for a in accts])
            fpr, tpr = roc_curve(s, y)
            ax.plot(fpr, tpr, label=f"{det.name} (AUC {roc_auc(s, y):.3f})")
        ax.set(title=f"ROC, {mode}", xlabel="account false-positive rate", ylabel="recall")
        ax.legend(loc="lower right", fontsize=8)
    names.append(_save(fig, out_dir, "roc.png"))

    fig, ax = plt.subplots(figsize=(7, 5))
    for mode, run in runs.items():
        for det in run.detectors:
            delays = sorted(max(0, n - run.requests_before_attack.get(a, 0))
                            for a, (_, n) in det.alerts.items()
                            if a in run.labels and run.labels[a].attack)
            if delays:
                ax.step(delays, np.arange(1, len(delays) + 1) / sum(
                    1 for lab in run.labels.values() if lab.attack), where="post",
                    label=f"{det.name}, {mode}")
    ax.set(title="Detection delay", xlabel="attacker requests from attack start to first alert",
           ylabel="share of attacker accounts detected", xscale="symlog")
    ax.legend(fontsize=7)
    names.append(_save(fig, out_dir, "delay_cdf.png"))

    run = next(iter(runs.values()))
    fig, ax = plt.subplots(figsize=(8, 5))
    for account, points in run.risk_over_time.items():
        if points:
            t0 = points[0][0]
            ax.plot([(t - t0) / 3600 for t, _ in points], [r for _, r in points],
                    label=f"{run.labels[account].scenario}")
    ax.axhline(80, color="grey", linestyle=":", linewidth=1)
    ax.set(title="Risk over time, example accounts", xlabel="hours since first request",
           ylabel="risk (0-100)", ylim=(0, 101))
    ax.legend(fontsize=7)
    names.append(_save(fig, out_dir, "risk_over_time.png"))
    return names


def _save(fig, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name
