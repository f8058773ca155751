"""The engine: event -> profile update -> (on a cadence) score -> risk update and alert.

The same object runs behind the Kafka worker and the file replay. It reads time only from the
events, keeps per-account state in a mapping it is handed (a dict, or a Faust table), and always
writes a profile back with `profiles[key] = profile` so a changelog-backed table sees the change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

from models.detectors.peer_anomaly import PeerAnomaly
from models.detectors.rules import RULES
from models.event import Event
from models.features import account_features
from models.outcomes import Alert, Outcome, Reason, RiskUpdate
from models.profile import AccountProfile
from models.scoring import ALERT_SEVERITIES, fuse, rank, severity_of

PEER_WEIGHT = 0.45  # peers alone can make an account "medium", never alert on their own


@dataclass(frozen=True)
class EngineConfig:
    score_every: int = 25          # score an account after this many new events...
    score_interval_s: float = 900.0  # ...or this much event time since its last score
    learn_below_risk: float = 50.0  # peer model learns only from accounts below this risk


class Engine:
    def __init__(self, profiles: MutableMapping[str, AccountProfile],
                 config: EngineConfig | None = None, peers: PeerAnomaly | None = None) -> None:
        self.profiles = profiles
        self.config = config or EngineConfig()
        self.peers = peers or PeerAnomaly()

    def process(self, event: Event) -> Outcome:
        profile = self.profiles.get(event.account_id) or AccountProfile(event.account_id)
        if profile.seen(event.event_id):
            self.profiles[event.account_id] = profile
            return Outcome(duplicate=True)
        profile.update(event)
        outcome = Outcome()
        if self._due(profile):
            outcome = self._score(profile, event.event_id)
        self.profiles[event.account_id] = profile
        return outcome

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
        weighted: list[tuple[Reason, float]] = []
        for rule, weight in RULES.values():
            reason = rule(p, features)
            if reason is not None:
                weighted.append((reason, weight))
        peer_score = self.peers.score_one(features)
        peer_strength = self.peers.strength(peer_score)
        if peer_strength > 0:
            weighted.append((Reason("unlike_peers",
                                    f"behaviour unlike other accounts (anomaly {peer_score:.2f})",
                                    peer_strength, {"peer_anomaly": peer_score}), PEER_WEIGHT))
        risk, reasons = fuse(weighted)
        if risk < self.config.learn_below_risk:
            self.peers.learn_one(features)
        severity = severity_of(risk)
        alert = None
        if severity in ALERT_SEVERITIES and rank(severity) > rank(p.alerted_severity):
            p.alerted_severity = severity
            if p.first_alert_ts is None:
                p.first_alert_ts = p.last_ts
            alert = Alert(alert_id=alert_id(p.account_id, severity), account_id=p.account_id,
                          severity=severity, risk=risk, reasons=reasons, event_ts=p.last_ts,
                          seq=p.events, trigger_event_id=trigger_event_id)
        p.risk, p.reasons = risk, [r.text for r in reasons]
        p.scored_at_events, p.scored_at_ts = p.events, p.last_ts
        update = RiskUpdate(account_id=p.account_id, seq=p.events, risk=risk, severity=severity,
                            reasons=reasons, event_ts=p.last_ts, first_alert_ts=p.first_alert_ts,
                            recent_api_keys=list(p.recent_api_keys),
                            recent_source_ips=list(p.recent_source_ips))
        return Outcome(risk=update, alert=alert)


def alert_id(account_id: str, severity: str) -> str:
    """Deterministic, so a replay or restart upserts the same alert instead of adding one."""
    return hashlib.sha256(f"{account_id}\x00{severity}".encode()).hexdigest()[:32]
