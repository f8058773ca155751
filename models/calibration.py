"""Alerting calibrated at a chosen false-positive rate, from analysts' labels.

The rules are built so that no single behaviour honest users share, and no automation context,
reaches the alert bar (80) alone; that is the calibration before any label. Once analysts have
labelled enough alerted accounts, this model estimates, for each candidate bar t >= 80, the
share of benign accounts that would be alerted:

    FPR(t) ~= A(t) * f(t) / B

A(t): accounts whose latest risk is >= t (a histogram of every account's latest risk: each
account counted once, moved from bin to bin as its risk changes); f(t): the share of false
positives among labelled accounts with risk >= t; B: the benign accounts, estimated as all
accounts minus the labelled-true share of those alerted. The bar is the lowest t >= 80 with
FPR(t) <= `target_fpr` (the bar stays at 80 until MIN_LABELS labels, MIN_FALSE of them false,
were given: with no false positive labelled there is nothing to calibrate); risk is then mapped
monotonically (ranking unchanged) so that the published risk is >= 80 exactly when the raw risk
is >= the bar: everything downstream (bands, alerts, `score`'s CSV) keeps reading 80 as the
alert line.

A population model like the river ones: `learn_one` changes state, `score_one` never does;
`snapshot()` / `restore()` carry plain lists.
"""

from __future__ import annotations

import msgspec

ALERT = 80.0
BINS = 101               # risk 0..100 in steps of 1
MIN_LABELS = 20          # labelled accounts (at or above the bar) before the bar moves...
MIN_FALSE = 3            # ...of which this many false positives: no bar moved by one label


class CalibrationSnapshot(msgspec.Struct, array_like=True):
    accounts: list[int]
    false: list[int]
    true: list[int]


def risk_bin(risk: float) -> int:
    return min(BINS - 1, max(0, int(risk)))


class AlertCalibrator:
    def __init__(self, target_fpr: float = 0.01) -> None:
        self.target_fpr = target_fpr
        self.accounts = [0] * BINS   # latest risk of every account
        self.false = [0] * BINS      # risk of accounts labelled false positive, when labelled
        self.true = [0] * BINS
        self.bar = ALERT             # raw risk at which alerts start (moved by labels only)

    def learn_one(self, before: float | None, after: float) -> None:
        """An account's risk moved from `before` (None: first score) to `after`."""
        if before is not None:
            b = risk_bin(before)
            if self.accounts[b] > 0:
                self.accounts[b] -= 1
        self.accounts[risk_bin(after)] += 1
        if self._labelled() >= MIN_LABELS:
            self.bar = self._choose()

    def move(self, moves: dict[int, int]) -> None:
        """Many accounts' moves at once ({risk bin: accounts in minus accounts out}), as a
        worker's batch sums them (models/learned.py)."""
        for b, n in sorted(moves.items(), key=lambda kv: -kv[1]):  # arrivals before departures
            self.accounts[b] = max(0, self.accounts[b] + n)
        if self._labelled() >= MIN_LABELS:
            self.bar = self._choose()

    def label(self, risk: float, false_positive: bool) -> None:
        (self.false if false_positive else self.true)[risk_bin(risk)] += 1
        if self._labelled() >= MIN_LABELS:
            self.bar = self._choose()

    def _labelled(self) -> int:
        start = int(ALERT)
        return sum(self.false[start:]) + sum(self.true[start:])

    def _choose(self) -> float:
        """The lowest raw risk >= 80 whose estimated benign alert rate is within target."""
        start = int(ALERT)
        total = sum(self.accounts)
        if total == 0:
            return ALERT
        # tails from the top: accounts, false and true labels at or above each bin
        acc = fp = tp = 0
        tails = [(0, 0, 0)] * BINS
        for t in range(BINS - 1, start - 1, -1):
            acc, fp, tp = acc + self.accounts[t], fp + self.false[t], tp + self.true[t]
            tails[t] = (acc, fp, tp)
        alerted, fp80, tp80 = tails[start]
        if fp80 < MIN_FALSE:
            return ALERT
        benign = max(1.0, total - alerted * tp80 / (fp80 + tp80))
        for t in range(start, BINS):
            acc, fp, tp = tails[t]
            f = fp / (fp + tp) if fp + tp else 0.0
            if acc * f / benign <= self.target_fpr:
                return float(t)
        return float(BINS - 1)

    def score_one(self, risk: float) -> float:
        """The published risk for a raw risk: identity while the bar is 80. Pure."""
        t = self.bar
        if t <= ALERT:
            return risk
        if risk < t:
            return round(risk * (ALERT - 0.1) / t, 1)
        return round(ALERT + (risk - t) * (100.0 - ALERT) / max(100.0 - t, 1e-9), 1)

    def snapshot(self) -> CalibrationSnapshot:
        return CalibrationSnapshot(list(self.accounts), list(self.false), list(self.true))

    def restore(self, snap: CalibrationSnapshot) -> None:
        self.accounts, self.false, self.true = (list(snap.accounts), list(snap.false),
                                                list(snap.true))
        self.bar = self._choose() if self._labelled() >= MIN_LABELS else ALERT
