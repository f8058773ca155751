"""What the engine emits: risk updates and alerts. Plain data, encoded as JSON on every sink."""

from __future__ import annotations

import msgspec


class Reason(msgspec.Struct, frozen=True):
    code: str                      # stable identifier, e.g. "logprob_harvesting"
    text: str                      # plain words with the evidence numbers
    strength: float                # 0..1 contribution before weighting
    evidence: dict[str, float] = {}


class RiskUpdate(msgspec.Struct, frozen=True):
    """Account risk after `seq` events; (account_id, seq) is the idempotency key."""

    account_id: str
    seq: int
    risk: float
    severity: str
    reasons: list[Reason]
    event_ts: float
    first_alert_ts: float | None = None
    # where enforcement can bite: the account's most recent credentials and client addresses
    recent_api_keys: list[str] = []
    recent_source_ips: list[str] = []
    # the hydra cluster the account belongs to, if any
    cluster_id: str | None = None
    cluster_size: int = 0


class Alert(msgspec.Struct, frozen=True):
    """One alert per account and reason group; re-published (same id) when it escalates."""

    alert_id: str
    account_id: str
    severity: str
    risk: float
    reasons: list[Reason]
    event_ts: float
    seq: int
    trigger_event_id: str
    reason_group: str = "behaviour"
    window_start: float | None = None
    window_end: float | None = None
    example_event_ids: list[str] = []
    escalations: int = 0


class Outcome(msgspec.Struct):
    duplicate: bool = False
    risk: RiskUpdate | None = None
    alert: Alert | None = None
