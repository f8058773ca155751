"""Check detection targets on larger simulated seeds that no test uses, plus score throughput.

    .venv/bin/python -m tests.bench.bench_targets [--seeds 1001 1002 1003] [--events 80000]
    .venv/bin/python -m tests.bench.bench_targets --corpus ../shared/corpora   # issue 8 targets

Prints one table per seed and a verdict per target; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from distillguard.stream.evaluate.command import _simulated, _strip_text
from distillguard.stream.evaluate.report import measure
from distillguard.stream.evaluate.runner import run
from distillguard.stream.simulate.generator import SimConfig

TARGETS = {
    "ROC-AUC, text": (0.99, ">="),
    "ROC-AUC, text-free": (0.97, ">="),
    "recall at <=0.5% account FPR (text)": (0.95, ">="),
    "camouflaged recall (text)": (0.80, ">="),
    "hydra members alerted (text)": (0.90, ">="),
    "hydra members alerted before their 300th request (text)": (0.50, ">="),
    "hard negatives alerted (eval harness, batch pipeline), text": (0.01, "<="),
    "hard negatives alerted (eval harness, batch pipeline), text-free": (0.01, "<="),
    "median delay, bulk distiller (attacker requests)": (300, "<="),
}


CORPUS_TARGETS = {  # issue 8: real prompt text, public recipes, weakly linked campaign
    "ROC-AUC, text": (0.99, ">="), "ROC-AUC, text-free": (0.97, ">="),
    "attackers alerted, text": (0.90, ">="), "attackers alerted, text-free": (0.90, ">="),
    "benign accounts alerted, text": (0.01, "<="), "benign accounts alerted, text-free": (0.01, "<="),
    "benchmark/tutoring/labelling alerted, text": (0.0, "<="),
    "benchmark/tutoring/labelling alerted, text-free": (0.0, "<="),
    "camouflaged alerted, text": (0.80, ">="), "camouflaged alerted, text-free": (0.80, ">="),
    "weak campaign members alerted, text": (0.90, ">="),
    "weak campaign members alerted, text-free": (0.90, ">="),
}
HARD = ("bench_cot", "bench_plain", "bench_mmlu", "hobbyist_bench", "tutoring_app",
        "labelling_app")


def corpus_results(seed: int, events: int, accounts: int, hydra: int,
                   corpus: str) -> dict[str, float]:
    cfg = SimConfig(accounts=accounts, hydra_size=hydra, events=events, seed=seed, corpus=corpus)
    lines, labels, _ = _simulated(cfg)
    out = {}
    for mode, data in (("text", lines), ("text-free", [_strip_text(x) for x in lines])):
        r = run(data, labels, len(data), progress=False, baselines=False)
        row = measure(mode, r, r.detectors[0])
        out |= {f"ROC-AUC, {mode}": row.roc_auc, f"attackers alerted, {mode}": row.alert_recall,
                f"benign accounts alerted, {mode}": row.alert_fpr,
                f"benchmark/tutoring/labelling alerted, {mode}": max(
                    row.persona_fpr.get(p, 0.0) for p in HARD),
                f"camouflaged alerted, {mode}": row.scenario_recall.get("camouflaged", 0.0),
                f"weak campaign members alerted, {mode}":
                    row.scenario_recall.get("weak_campaign_member", 0.0)}
    return out


def seed_results(seed: int, events: int, accounts: int, hydra: int) -> dict[str, float]:
    cfg = SimConfig(accounts=accounts, hydra_size=hydra, events=events, seed=seed)
    lines, labels, _ = _simulated(cfg)
    text = run(lines, labels, len(lines), progress=False, baselines=False)
    free = run([_strip_text(x) for x in lines], labels, len(lines), progress=False,
               baselines=False)
    t, f = measure("text", text, text.detectors[0]), measure("text-free", free, free.detectors[0])
    hydra_ids = [a for a, lab in labels.items() if lab.scenario == "hydra_member"]
    early = sum(1 for a in hydra_ids if a in text.detectors[0].alerts
                and text.detectors[0].alerts[a][1] < 300) / max(len(hydra_ids), 1)

    def hard_negatives(row) -> float:
        rates = [row.persona_fpr[p] for p in ("eval_harness", "batch_pipeline")
                 if p in row.persona_fpr]
        return max(rates) if rates else 0.0

    return {
        "ROC-AUC, text": t.roc_auc, "ROC-AUC, text-free": f.roc_auc,
        "recall at <=0.5% account FPR (text)": t.recall_at[0.005],
        "camouflaged recall (text)": t.scenario_recall.get("camouflaged", float("nan")),
        "camouflaged recall (text-free, reported only)": f.scenario_recall.get("camouflaged"),
        "hydra members alerted (text)": t.scenario_recall.get("hydra_member", float("nan")),
        "hydra members alerted before their 300th request (text)": early,
        "hard negatives alerted (eval harness, batch pipeline), text": hard_negatives(t),
        "hard negatives alerted (eval harness, batch pipeline), text-free": hard_negatives(f),
        "median delay, bulk distiller (attacker requests)":
            t.scenario_delay.get("bulk_distiller") or float("inf"),
        "benign accounts alerted, text (reported only)": t.alert_fpr,
        "benign accounts alerted, text-free (reported only)": f.alert_fpr,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1001, 1002, 1003])
    ap.add_argument("--events", type=int, default=80_000)
    ap.add_argument("--accounts", type=int, default=240)
    ap.add_argument("--hydra", type=int, default=60)
    ap.add_argument("--corpus", help="Folder of JSONL corpora: check issue 8's targets instead.")
    args = ap.parse_args()
    targets = CORPUS_TARGETS if args.corpus else TARGETS
    per_seed = {s: corpus_results(s, args.events, args.accounts, args.hydra, args.corpus)
                if args.corpus else seed_results(s, args.events, args.accounts, args.hydra)
                for s in args.seeds}
    names = list(next(iter(per_seed.values())))
    print(f"\n{'measure':<66}" + "".join(f"{'seed ' + str(s):>12}" for s in args.seeds)
          + f"{'target':>10}  verdict")
    failed = 0
    for name in names:
        values = [per_seed[s][name] for s in args.seeds]
        target = targets.get(name)
        verdict = ""
        if target:
            bound, op = target
            ok = all(v >= bound if op == ">=" else v <= bound for v in values)
            verdict = "met" if ok else "MISSED"
            failed += not ok
        cells = "".join(f"{v:>12.3f}" if v is not None else f"{'-':>12}" for v in values)
        bound_txt = f"{target[1]}{target[0]:g}" if target else ""
        print(f"{name:<66}{cells}{bound_txt:>10}  {verdict}")
    mean_auc = statistics.mean(per_seed[s]["ROC-AUC, text-free"] for s in args.seeds)
    print(f"\nmean text-free ROC-AUC {mean_auc:.3f}; {failed} target(s) missed")
    print("score throughput: run `python -m tests.bench.bench_score` (ratio to parse-only)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
