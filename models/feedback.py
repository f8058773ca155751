"""What analysts' labels teach the engine beyond one account: a global weight per reason, moved
only by enough independent evidence.

A label silences its reasons for the labelled account at once (models/alerting.py:apply_label).
Globally, a reason keeps weight 1.0 until `min_labels` accounts were labelled on it; then its
weight follows its observed precision (true positives among labels, smoothed by one of each):

    weight = 0.5 + 0.7 * (tp + 1) / (tp + fp + 2)       0.5 (all false) .. 1.2 (all true)

Each account counts once per reason (its latest label wins), so a busy eval team labelling
its own account fifty times moves nobody else's scores. Labels are de-duplicated by label id
(the API's `alert_labels.label_id`) among the last `max_recent_ids`; a redelivered feedback
message changes nothing. Bounded: at most `max_votes` (account, reason) votes, oldest dropped
first, and `MAX_REASONS` reason codes. Pure and a msgspec Struct, so the worker can snapshot
and restore it.

>>> s = FeedbackState(min_labels=2)
>>> s.apply(1, "acct-a", "false_positive", ["logprob_harvesting"])
True
>>> s.apply(1, "acct-a", "false_positive", ["logprob_harvesting"])  # same label id
False
>>> s.weight("logprob_harvesting")   # one account is not enough evidence
1.0
>>> s.apply(2, "acct-b", "false_positive", ["logprob_harvesting"])
True
>>> round(s.weight("logprob_harvesting"), 3)
0.675
"""

from __future__ import annotations

import hashlib

import msgspec

LABELS = ("true_positive", "false_positive")
MIN_LABELS = 20
MAX_VOTES = 4096
MAX_RECENT_IDS = 1024
MAX_REASONS = 64
MAX_CODE_CHARS = 64
LOW, HIGH = 0.5, 1.2


def _account_key(account_id: str) -> str:
    """8 bytes of hash instead of the id: bounded size, and no account ids in the snapshot."""
    return hashlib.blake2b(account_id.encode(), digest_size=8).hexdigest()


class FeedbackState(msgspec.Struct):
    min_labels: int = MIN_LABELS          # accounts labelled on a reason before it is reweighted
    max_votes: int = MAX_VOTES
    max_recent_ids: int = MAX_RECENT_IDS
    recent_ids: list[int] = []            # label ids applied, oldest first
    votes: dict[str, bool] = {}           # "<reason> <account hash>" -> true positive? (by age)
    tallies: dict[str, list[int]] = {}    # reason -> [true positives, false positives]

    def apply(self, label_id: int, account_id: str, label: str, reason_codes: list[str]) -> bool:
        """Count one analyst label; False if this label id was applied already. A label id of
        0 or less means "no id" (older producers): applied, never de-duplicated."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
        if label_id > 0:
            if label_id in self.recent_ids:
                return False
            self.recent_ids.append(label_id)
            del self.recent_ids[:-self.max_recent_ids]
        positive = label == "true_positive"
        account = _account_key(account_id)
        for code in dict.fromkeys(reason_codes):
            if not code or len(code) > MAX_CODE_CHARS or " " in code or (
                    code not in self.tallies and len(self.tallies) >= MAX_REASONS):
                continue
            key = f"{code} {account}"
            previous = self.votes.pop(key, None)
            if previous is not None:
                self._count(code, previous, -1)
            self.votes[key] = positive
            self._count(code, positive, +1)
        while len(self.votes) > self.max_votes:
            oldest = next(iter(self.votes))
            self._count(oldest.split(" ", 1)[0], self.votes.pop(oldest), -1)
        return True

    def labels(self, reason_code: str) -> int:
        """Accounts whose latest label covers this reason."""
        tally = self.tallies.get(reason_code)
        return sum(tally) if tally else 0

    def weight(self, reason_code: str) -> float:
        """Global multiplier of the reason's weight: 1.0 until `min_labels` accounts."""
        tally = self.tallies.get(reason_code)
        if not tally or sum(tally) < self.min_labels:
            return 1.0
        precision = (tally[0] + 1) / (sum(tally) + 2)
        return min(HIGH, max(LOW, LOW + (HIGH - LOW) * precision))

    def _count(self, code: str, positive: bool, delta: int) -> None:
        tally = self.tallies.setdefault(code, [0, 0])
        tally[0 if positive else 1] += delta
        if tally == [0, 0]:
            del self.tallies[code]
