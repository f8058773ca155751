"""Detect a faust-streaming data-loss bug: messages skipped by the consumer.

Faust can drop messages it has fetched (around rebalances, and - as we reproduced - when the
event loop is blocked while the worker starts) and then treats the hole as a legitimate offset
gap: it marks it acked and commits past it, so those events are never processed (faust-streaming
issues #216 and #221). Seeking back does not help: messages already in flight move Faust's read
position past the re-fetched ones. So the worker avoids the trigger (no blocking work on the
event loop) and this guard makes any recurrence loud: a warning naming the offsets, and
`distillguard_offset_gaps_total`, which SRE can alert on. Legitimate gaps (compaction,
transaction markers) are not counted: only holes above the last committed offset.
"""

from __future__ import annotations

import logging

from distillguard.sinks.metrics import Metrics

log = logging.getLogger(__name__)


class OffsetGapDetector:
    def __init__(self, consumer, metrics: Metrics) -> None:
        self.consumer = consumer
        self.metrics = metrics
        self.expected: dict = {}            # tp -> next offset to process (also feeds the lag gauge)
        self.reported: set = set()          # (tp, offset) holes already reported

    def check(self, tp, offset: int, last: int | None = None) -> None:
        """The stage is about to process `offset` (to `last`, a chunk) of `tp`."""
        expected = self.expected.get(tp)
        self.expected[tp] = max(expected or 0, (offset if last is None else last) + 1)
        if expected is None or offset <= expected:
            return
        committed = self.consumer._committed_offset.get(tp)
        if committed is None or committed >= offset or (tp, expected) in self.reported:
            return  # a partition handed over by another worker, or a hole already reported
        if len(self.reported) > 10_000:
            self.reported.clear()
        self.reported.add((tp, expected))
        log.error("the consumer skipped offsets %d..%d of %s (last committed %d): those events "
                  "were not scored; replay them from the input topic", expected, offset - 1,
                  tp, committed)
        self.metrics.offset_gaps.inc(offset - expected)
