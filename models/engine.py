"""The engine: event -> profile update -> (on a cadence) score -> risk update and alert.

The same object runs behind the Kafka worker and the file replay. It reads time only from the
events, keeps per-account state in a mapping it is handed (a dict, or a Faust table), and always
writes a profile back with `profiles[key] = profile` so a changelog-backed table sees the change.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, MutableMapping

from distillguard.models.alerting import apply_label, maybe_alert, suppress
from distillguard.models.calibration import AlertCalibrator
from distillguard.models.clusters import GroupStage
from distillguard.models.detectors.population import PopulationModels
from distillguard.models.detectors.rules import FAMILIES, RULES
from distillguard.models.engine_config import EngineConfig
from distillguard.models.event import Event
from distillguard.models.features import account_features, extraction_level
from distillguard.models.feedback import FeedbackState
from distillguard.models.outcomes import Alert, Outcome, Reason, RiskUpdate
from distillguard.models.profile import ANSWER_MIN, AccountProfile, visible_output
from distillguard.models.scoring import fuse, severity_of
from distillguard.models.seen_events import SeenEvents
from distillguard.models.thresholds import PRIOR, PopulationNorms, segment_of

CLUSTER_WEIGHT = 0.95  # a risky campaign makes each linked member risky
CLUSTER_MIN_RISK = 30.0
KEEP_REASONS = 3  # texts kept in the profile: what `score`'s CSV shows (the update has them all)


class Engine:
    def __init__(self, profiles: MutableMapping[str, AccountProfile],
                 config: EngineConfig | None = None, population: PopulationModels | None = None,
                 feedback: FeedbackState | None = None, seen: SeenEvents | None = None) -> None:
        self.profiles = profiles
        self.seen = seen if seen is not None else SeenEvents()  # event-id de-duplication
        self.config = config or EngineConfig()
        off = self.config.disabled
        river_off = "river" in off
        self.population = population or PopulationModels(  # river models; snapshot me
            peers=not river_off and "peers" not in off,
            verdicts=not river_off and "verdicts" not in off)
        self.groups = GroupStage()
        self.norms = PopulationNorms()
        self.models = ModelReleases()
        self.feedback_state = feedback or FeedbackState()  # learned from labels; snapshot me
        self.calibrator = AlertCalibrator(self.config.alert_fpr)  # from labels; snapshot me
        self.off_rules = frozenset(r for fam in off for r in FAMILIES.get(fam, ()))
        self.use_groups = "groups" not in off
        self.use_norms = "norms" not in off
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
        profile.update(event, self.models.is_new(event.model, event.ts),
                       self.norms.norms(segment) if self.use_norms else PRIOR)
        if profile.risk < self.config.learn_below_risk:
            self._learn_norms(segment, event, profile.events)
        outcome = Outcome()
        if self._due(profile):
            outcome = self._score(profile, event.event_id)
        self.profiles[event.account_id] = profile
        return outcome

    def _learn_norms(self, segment: str, event: Event, account_events: int) -> None:
        tools = event.params.tools if event.params is not None else None
        visible = visible_output(event)
        answer = visible if visible > ANSWER_MIN else None
        self.norms.learn(segment, (answer, event.input_tokens, tools or None,
                                   event.reasoning_tokens or None), account_events,
                         zlib.crc32(event.event_id.encode()))

    def flush(self, account_ids: Iterable[str]) -> list[Outcome]:
        """Score accounts with unscored events (end of a replay), regardless of cadence, and
        accounts whose campaign verdict changed since their last score."""
        outcomes = []
        for account_id in account_ids:
            profile = self.profiles[account_id]
            if profile.scored_at_events < profile.events:
                outcomes.append(self._score(profile, ""))
                self.profiles[account_id] = profile
        for _ in range(3):  # a rescore can change others' verdicts again; bounded passes
            dirty = [a for a in self.groups.dirty if a in self.profiles]
            self.groups.dirty.clear()
            if not dirty:
                break
            for account_id in dirty:
                profile = self.profiles[account_id]
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
        weighted += self.population.reasons(p.events, features)
        own_risk, _ = fuse(weighted)
        if self.use_groups:
            self.groups.publish(p, own_risk, extraction_level(p, features))
        group_risk, group_text, group_size, group_id = self.groups.verdict_of(p.account_id)
        if group_risk >= CLUSTER_MIN_RISK:
            weighted.append((Reason("hydra_cluster", group_text, group_risk / 100,
                                    {"cluster_size": group_size, "cluster_risk": group_risk}),
                             CLUSTER_WEIGHT))
        weighted = suppress(p, weighted)
        weight = self.feedback_state.weight
        raw, reasons = fuse([(r, w * weight(r.code)) for r, w in weighted])
        risk = self.calibrator.score_one(raw)
        self.calibrator.learn_one(p.raw_risk if p.raw_risk >= 0 else None, raw)
        p.raw_risk = int(raw)
        self.population.learn(p.events, features, rule_risk)
        severity = severity_of(risk)
        alert = maybe_alert(p, risk, severity, reasons, trigger_event_id)
        p.risk, p.reasons = risk, [r.text for r in reasons[:KEEP_REASONS]]
        p.scored_at_events, p.scored_at_ts = p.events, p.last_ts
        update = RiskUpdate(account_id=p.account_id, seq=p.events, risk=risk, severity=severity,
                            reasons=reasons, event_ts=p.last_ts, first_alert_ts=p.first_alert_ts,
                            recent_api_keys=list(p.recent_api_keys),
                            recent_source_ips=list(p.recent_source_ips),
                            cluster_id=group_id if group_risk >= CLUSTER_MIN_RISK else None,
                            cluster_size=group_size if group_risk >= CLUSTER_MIN_RISK else 0)
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
                 label_id: int = 0) -> bool:
        """An analyst labelled an alert; False if that label id was applied already. False
        positives silence those reasons for the account until its behaviour changes; reasons
        are reweighted for everyone only from enough accounts' labels (models/feedback.py)."""
        if not self.feedback_state.apply(label_id, account_id, label, reason_codes):
            return False
        p = self.profiles.get(account_id)
        if p is not None:
            features = account_features(p)
            strengths = {r.code: r.strength for r, _ in rule_reasons(p, features)}
            apply_label(p, label, reason_codes, strengths)
            self.population.label(p.events, features, label == "true_positive")
            if p.raw_risk >= 0:
                self.calibrator.label(p.raw_risk, label == "false_positive")
            self.profiles[account_id] = p
        return True


class ModelReleases:
    """When each model was first requested by anyone: traffic moving to a model first seen
    in the last `new_for_s` is release chasing. Models already present during the first
    `warmup_s` of the stream count as old (we did not see them launch). Bounded by `max_models`."""

    def __init__(self, new_for_s: float = 7 * 86400, warmup_s: float = 86400,
                 max_models: int = 10_000) -> None:
        self.new_for_s, self.warmup_s, self.max_models = new_for_s, warmup_s, max_models
        self.first_seen: dict[str, float] = {}
        self.stream_start: float | None = None

    def is_new(self, model: str | None, ts: float) -> bool:
        if self.stream_start is None:
            self.stream_start = ts
        if not model:
            return False
        first = self.first_seen.get(model)
        if first is None:
            if len(self.first_seen) >= self.max_models:
                return False
            self.first_seen[model] = first = ts
        return first - self.stream_start >= self.warmup_s and ts - first < self.new_for_s


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
