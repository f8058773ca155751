"""In-process driver of the group stage (`models.groups`): the same fold / verdicts / combine
that the staged Kafka topology runs, called directly by the engine so `score` and `eval` see
campaigns too.

Bounded: at most `max_groups` link keys are held (least recently touched are forgotten) and each
account keeps its `KEEP` strongest verdicts. Accounts that received a new verdict since their
last score are `dirty`, so a replay's final flush rescores them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from distillguard.models.groups import (
    GroupState,
    GroupVerdict,
    combine,
    fold,
    link_keys,
    member_summary,
    verdicts,
)
from distillguard.models.profile import AccountProfile

KEEP = 4  # verdicts kept per account (the strongest)


class GroupStage:
    def __init__(self, max_groups: int = 200_000, max_accounts: int = 500_000) -> None:
        self.max_groups, self.max_accounts = max_groups, max_accounts
        self.groups: OrderedDict[str, GroupState] = OrderedDict()
        self.latest: OrderedDict[str, dict[str, GroupVerdict]] = OrderedDict()
        self.dirty: set[str] = set()

    def publish(self, p: AccountProfile, own_risk: float, extraction: float) -> None:
        """Fold the account's summary into each of its groups; deliver what changed."""
        summary = member_summary(p, own_risk, extraction)
        keys = link_keys(p)
        latest = self.latest.get(p.account_id)
        if latest:  # verdicts of keys the account no longer carries (an old template) expire
            for stale in [k for k in latest if k not in keys]:
                del latest[stale]
        for key in keys:
            state = fold(self.groups.get(key), key, summary)
            self.groups[key] = state
            self.groups.move_to_end(key)
            for v in verdicts(state, key):
                self._receive(v, p.account_id)
        while len(self.groups) > self.max_groups:
            self.groups.popitem(last=False)

    def _receive(self, v: GroupVerdict, publisher: str) -> None:
        latest = self.latest.setdefault(v.account_id, {})
        previous = latest.get(v.link_key)
        if v.risk <= 0:
            latest.pop(v.link_key, None)
        else:
            latest[v.link_key] = v
            if len(latest) > KEEP:
                del latest[min(latest, key=lambda k: latest[k].risk)]
        if v.account_id != publisher and (previous is None or previous.risk != v.risk):
            self.dirty.add(v.account_id)
        self.latest.move_to_end(v.account_id)
        while len(self.latest) > self.max_accounts:
            self.latest.popitem(last=False)

    def verdict_of(self, account_id: str) -> tuple[float, str, int, str | None]:
        """(risk, reason text, group size, group id) from the account's latest verdicts."""
        self.dirty.discard(account_id)
        latest = self.latest.get(account_id)
        if not latest:
            return 0.0, "", 0, None
        risk, text, size = combine(list(latest.values()))
        strongest = max(latest.values(), key=lambda v: v.risk).link_key
        return risk, text, size, hashlib.sha256(strongest.encode()).hexdigest()[:16]
