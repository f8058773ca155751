"""The engine: the per-account stage. event -> profile update -> (on a cadence) score -> risk
update and alert.

The same object runs behind the Kafka worker and the file replay. It reads time only from the
events, keeps per-account state in a mapping it is handed (a dict, or the worker's RocksDB
store), and always writes a profile back with `profiles[key] = profile`.

It talks to the other stages through three doors, the same in both drivers
(models/topology.py runs them in one process; stream/agents/ through Kafka):
- `links`: what scoring publishes to the group stage, (link key, member summary) pairs;
- `receive(verdict)`: a group's verdict on one of its members; changed verdicts make the
  account due for `rescore()`;
- `learned` / `learn`: the population-level state it reads, and where it reports what it
  learned (models/learned.py).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, MutableMapping

from distillguard.models.alerting import apply_label, maybe_alert, suppress
from distillguard.models.detectors.rules import FAMILIES, RULES
from distillguard.models.engine_config import EngineConfig
from distillguard.models.event import Event
from distillguard.models.features import account_features, extraction_level
from distillguard.models.group_messages import GroupVerdict, MemberSummary
from distillguard.models.groups import combine, group_of, hold, link_keys, member_summary
from distillguard.models.items import account_tag
from distillguard.models.learned import Learned, Learner
from distillguard.models.outcomes import Alert, Outcome, Reason, RiskUpdate
from distillguard.models.profile import ANSWER_MIN, AccountProfile, visible_output
from distillguard.models.scoring import fuse, severity_of
from distillguard.models.seen_events import SeenEvents
from distillguard.models.simhash import prompt_sha256
from distillguard.models.thresholds import HISTORY, PRIOR, admitted, segment_of

CLUSTER_WEIGHT = 0.95  # a risky campaign makes each linked member risky
CLUSTER_MIN_RISK = 30.0
# An account tells its groups again when its request count grew by this factor (a few dozen
# summaries over an account's life, not one per score); its first score always tells them.
REPUBLISH_GROWTH = 1.25
KEEP_REASONS = 3  # texts kept in the profile: what `score`'s CSV shows (the update has them all)


class Engine:
    def __init__(self, profiles: MutableMapping[str, AccountProfile],
                 config: EngineConfig | None = None, learned: Learned | None = None,
                 learn: Learner | None = None, seen: SeenEvents | None = None) -> None:
        """`learned`: the population state read while scoring; `learn`: where learning goes
        (default: into `learned` at once, as one process does)."""
        self.profiles = profiles
        self.seen = seen if seen is not None else SeenEvents()  # event-id de-duplication
        self.config = config or EngineConfig()
        off = self.config.disabled
        self.learned = learned if learned is not None else Learned(
            alert_fpr=self.config.alert_fpr, peers="river" not in off and "peers" not in off,
            verdicts="river" not in off and "verdicts" not in off)
        self.learn: Learner = learn if learn is not None else self.learned
        self.links: list[tuple[str, MemberSummary]] = []  # for the group stage
        self.due: set[str] = set()  # accounts whose group verdicts changed since their score
        self.off_rules = frozenset(r for fam in off for r in FAMILIES.get(fam, ()))
        self.use_groups = "groups" not in off
        self.use_norms = "norms" not in off
        self.use_items = "items" not in off
        self._reemitted: set[str] = set()  # accounts whose state was re-sent after a duplicate

    def process(self, event: Event) -> Outcome:
        profile = self.profiles.get(event.account_id) or AccountProfile(event.account_id)
        if self.seen.seen(event.account_id, event.event_id, event.ts):
            profile.duplicates += 1
            outcome = Outcome(duplicate=True)
            if event.account_id not in self._reemitted and profile.scored_at_events:
                # The first duplicate of an account in this process: most likely a re-read after
                # a crash, whose outputs may not have reached the broker although the profile
                # did. Re-send its current state; every sink upserts, so this is harmless.
                self._reemitted.add(event.account_id)
                outcome = self._reemit(profile)
            self.profiles[event.account_id] = profile
            return outcome
        segment = segment_of(event.endpoint, event.model, event.user_agent)
        learned = self.learned
        if event.model:
            self.learn.see_model(event.model, event.ts)
        norms = learned.norms.norms(segment) if self.use_norms else PRIOR
        profile.update(event, learned.releases.is_new(event.model, event.ts), norms,
                       warm=norms is not PRIOR or not self.use_norms,
                       public=self._public(event) if self.use_items else None)
        if profile.risk < self.config.learn_below_risk:
            self._learn_norms(segment, event, profile.events)
        outcome = Outcome()
        if self._due(profile):
            outcome = self._score(profile, event.event_id)
        self.profiles[event.account_id] = profile
        return outcome

    def _public(self, event: Event) -> bool | None:
        """Whether another account sent this prompt before (None: no prompt hash); the
        population's sketch of prompt hashes learns it either way."""
        prompt = event.prompt
        if prompt is None:
            return None
        if prompt.sha256 is None:
            if not prompt.text:
                return None
            prompt.sha256 = prompt_sha256(prompt.text)  # as the contract defines it
        item, tag = int(prompt.sha256[:16], 16), account_tag(event.account_id)
        public = self.learned.items.seen_elsewhere(item, tag)
        self.learn.see_item(item, tag)
        return public

    def _learn_norms(self, segment: str, event: Event, account_events: int) -> None:
        if account_events <= HISTORY:
            return  # `admitted` refuses an account's first requests whatever their hash
        event_hash = zlib.crc32(event.event_id.encode())
        if not admitted(account_events, event_hash):
            return  # most requests: every learner drops them, so their values are not built
        tools = event.params.tools if event.params is not None else None
        visible = visible_output(event)
        answer = visible if visible > ANSWER_MIN else None
        self.learn.learn_norm(segment, (answer, event.input_tokens, tools or None,
                                        event.reasoning_tokens or None), account_events,
                              event_hash)

    def receive(self, verdict: GroupVerdict) -> None:
        """A group's verdict on one of its members. The account keeps it; if its group risk
        moved by a point or more, the account is due for `rescore`. Unknown (expired) accounts
        are ignored."""
        profile = self.profiles.get(verdict.account_id)
        if profile is None:
            return
        held = profile.group_verdicts
        before = held[:]  # combined only if `hold` changes what the account holds (rarely)
        if not hold(held, verdict):
            return
        self.profiles[verdict.account_id] = profile
        if abs(combine(held)[0] - combine(before)[0]) >= 1.0:
            self.due.add(verdict.account_id)

    def rescore(self) -> list[Outcome]:
        """Score the accounts whose group verdicts changed since their last score."""
        outcomes = []
        due, self.due = self.due, set()
        for account_id in sorted(due):
            profile = self.profiles.get(account_id)
            if profile is not None:
                outcomes.append(self._score(profile, ""))
                self.profiles[account_id] = profile
        return outcomes

    def flush(self, account_ids: Iterable[str]) -> list[Outcome]:
        """Score accounts with unscored events (end of a replay), regardless of cadence."""
        outcomes = []
        for account_id in account_ids:
            profile = self.profiles[account_id]
            if profile.scored_at_events < profile.events:
                outcomes.append(self._score(profile, ""))
                self.profiles[account_id] = profile
        return outcomes

    def _due(self, p: AccountProfile) -> bool:
        """First event (so every account has a risk row at once), then every k events or t s."""
        return (p.scored_at_events == 0
                or p.events - p.scored_at_events >= self.config.score_every
                or p.last_ts - p.scored_at_ts >= self.config.score_interval_s)

    def _score(self, p: AccountProfile, trigger_event_id: str) -> Outcome:
        features = account_features(p)
        weighted = [(r, w) for r, w in rule_reasons(p, features) if r.code not in self.off_rules]
        rule_risk, _ = fuse(weighted)
        weighted += self.learned.population.reasons(p.events, features)
        if self.use_groups and p.events >= p.published_events * REPUBLISH_GROWTH:
            own_risk, _ = fuse(weighted)  # only its groups read it: fused when they are told
            summary = member_summary(p, own_risk, extraction_level(p, features))
            keys = link_keys(p, self.learned.releases.stream_start)
            self.links += [(key, summary) for key in keys]
            p.published_events = p.events
            # verdicts of keys the account no longer carries (an old template bucket) expire
            carried = {group_of(key) for key in keys}
            p.group_verdicts = [v for v in p.group_verdicts if v.group in carried]
        group_risk, group_text, strongest = combine(p.group_verdicts) if self.use_groups else (
            0.0, "", None)
        in_group = strongest is not None and group_risk >= CLUSTER_MIN_RISK
        if in_group:
            weighted.append((Reason("hydra_cluster", group_text, group_risk / 100,
                                    {"cluster_size": strongest.size, "cluster_risk": group_risk}),
                             CLUSTER_WEIGHT))
        weighted = suppress(p, weighted)
        weight = self.learned.feedback.weight
        raw, reasons = fuse([(r, w * weight(r.code)) for r, w in weighted])
        risk = self.learned.calibrator.score_one(raw)
        self.learn.learn_risk(p.raw_risk if p.raw_risk >= 0 else None, raw)
        p.raw_risk = int(raw)
        self.learn.learn_population(p.events, features, rule_risk)
        severity = severity_of(risk)
        alert = maybe_alert(p, risk, severity, reasons, trigger_event_id)
        p.risk, p.reasons = risk, [r.text for r in reasons[:KEEP_REASONS]]
        p.scored_at_events, p.scored_at_ts = p.events, p.last_ts
        update = RiskUpdate(account_id=p.account_id, seq=p.events, risk=risk, severity=severity,
                            reasons=reasons, event_ts=p.last_ts, first_alert_ts=p.first_alert_ts,
                            recent_api_keys=list(p.recent_api_keys),
                            recent_source_ips=list(p.recent_source_ips),
                            cluster_id=cluster_id(strongest.group) if in_group else None,
                            cluster_size=strongest.size if in_group else 0)
        return Outcome(risk=update, alert=alert)

    def _reemit(self, p: AccountProfile) -> Outcome:
        """The account's current risk, plus its open alerts as they stand, marked duplicate."""
        scored = self._score(p, "")
        alert = scored.alert
        if alert is None and scored.risk is not None and p.open_alerts:
            group, state = max(p.open_alerts.items(), key=lambda kv: kv[1][3])
            alert = Alert(alert_id=state[0], account_id=p.account_id, severity=state[1],
                          risk=scored.risk.risk, reasons=scored.risk.reasons, event_ts=state[3],
                          seq=p.events, trigger_event_id="", reason_group=group,
                          window_start=p.first_ts, window_end=state[3],
                          example_event_ids=list(p.flagged_event_ids), escalations=state[4])
        if len(self._reemitted) > 200_000:
            self._reemitted.clear()
        return Outcome(duplicate=True, risk=scored.risk, alert=alert)

    def feedback(self, account_id: str, label: str, reason_codes: list[str],
                 label_id: int = 0) -> None:
        """An analyst labelled an alert. False positives silence those reasons for the account
        until its behaviour changes (idempotent); the label also goes to the population's
        learned state (once per label id): the feedback weights, which reweigh reasons for
        everyone only from enough accounts' labels (models/feedback.py), the river verdict
        model and the alert calibrator."""
        p = self.profiles.get(account_id)
        if p is None:  # expired, or never seen here: the population still learns the label
            self.learn.label(label_id, account_id, label, reason_codes, 0, None, -1)
            return
        features = account_features(p)
        strengths = {r.code: r.strength for r, _ in rule_reasons(p, features)}
        apply_label(p, label, reason_codes, strengths)
        self.learn.label(label_id, account_id, label, reason_codes, p.events, features,
                         p.raw_risk)
        self.profiles[account_id] = p


def rule_reasons(p: AccountProfile, features: dict[str, float] | None = None,
                 ) -> list[tuple[Reason, float]]:
    """Every rule that fires on `p`, with its weight."""
    features = account_features(p) if features is None else features
    out = []
    for rule, weight in RULES.values():
        reason = rule(p, features)
        if reason is not None:
            out.append((reason, weight))
    return out


def cluster_id(group: str) -> str:
    """The id under which a risk update names the account's strongest group."""
    return hashlib.sha256(group.encode()).hexdigest()[:16]
