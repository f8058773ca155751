"""The staged topology in one process: what `score`, `demo` and `eval` run.

    events ──per-account stage (Engine)──> risk updates, alerts
                 │ links (link key, member summary)        ▲ verdicts (by account)
                 └──────────> group stage (GroupTable) ─────┘

The Kafka worker runs the same stages with the same functions, each keyed by its own key and
connected through topics (stream/agents/); here the group stage is a dict and a verdict reaches
its account at once, so a replay gives the stream's results without a broker.
"""

from __future__ import annotations

from collections import OrderedDict

from distillguard.models.engine import Engine
from distillguard.models.group_messages import GroupVerdict, MemberSummary
from distillguard.models.groups import GroupState, fold, verdicts
from distillguard.models.outcomes import Outcome

FLUSH_PASSES = 4  # a rescore publishes nothing new, so two passes settle; bounded regardless
RESCORE_EVERY = 500  # events between rescores of accounts whose group verdicts changed (the
                     # worker rescores them once per batch, of up to a few thousand events)


class GroupTable:
    """The group stage's state, keyed by link key: at most `max_groups` groups, the least
    recently touched forgotten first (the stream expires idle groups instead)."""

    def __init__(self, max_groups: int = 200_000) -> None:
        self.max_groups = max_groups
        self.groups: OrderedDict[str, GroupState] = OrderedDict()

    def merge(self, link_key: str, summary: MemberSummary) -> list[GroupVerdict]:
        state = fold(self.groups.get(link_key), link_key, summary)
        self.groups[link_key] = state
        self.groups.move_to_end(link_key)
        if len(self.groups) > self.max_groups:
            self.groups.popitem(last=False)
        return verdicts(state, link_key)


class LocalTopology:
    """Drives the engine's side doors in-process, after every event."""

    def __init__(self, engine: Engine, groups: GroupTable | None = None,
                 rescore_every: int = RESCORE_EVERY) -> None:
        self.engine = engine
        self.groups = groups if groups is not None else GroupTable()
        self.rescore_every = rescore_every
        self._events = 0

    def settle(self) -> list[Outcome]:
        """After an event: route what scoring published to the group stage and deliver the
        verdicts; every `rescore_every` events, rescore the accounts whose group risk moved
        (as the worker does once per batch; their rescores publish nothing new)."""
        engine = self.engine
        if engine.links:  # only after a score that told the account's groups
            links, engine.links = engine.links, []
            for link_key, summary in links:
                for verdict in self.groups.merge(link_key, summary):
                    engine.receive(verdict)
        self._events += 1
        if self._events < self.rescore_every or not engine.due:
            return []
        self._events = 0
        return engine.rescore()

    def finish(self, account_ids: list[str]) -> list[Outcome]:
        """End of a replay: score what is unscored, then settle the group stage."""
        outcomes = self.engine.flush(account_ids)
        for _ in range(FLUSH_PASSES):
            self._events = self.rescore_every
            settled = self.settle()
            if not settled:
                break
            outcomes += settled
        return outcomes
