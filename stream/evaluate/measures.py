"""Account-level detection measures, from scores and labels. numpy only, no sklearn."""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random attacker outranks a random benign account (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(scores)[::-1]
    p, n = max((labels == 1).sum(), 1), max((labels == 0).sum(), 1)
    tpr = [0.0] + [((scores >= t) & (labels == 1)).sum() / p for t in thresholds]
    fpr = [0.0] + [((scores >= t) & (labels == 0)).sum() / n for t in thresholds]
    return np.array(fpr), np.array(tpr)


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision: mean of precision at each attacker's rank."""
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order] == 1
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, max_fpr: float) -> float:
    """Best recall with an account false-positive rate of at most `max_fpr`."""
    fpr, tpr = roc_curve(scores, labels)
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def quantiles(values: list[float], qs=(0.5, 0.9)) -> list[float | None]:
    if not values:
        return [None for _ in qs]
    return [float(np.quantile(values, q)) for q in qs]
