"""Request and response bodies. Inputs are strict (unknown fields rejected, lengths bounded, no
NUL, which PostgreSQL text cannot hold) so bad input is a 4xx, never a database error."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ACCOUNT_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"      # 1-128 chars, no control characters
ALERT_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
AlertStatus = Literal["open", "acknowledged", "resolved", "false_positive"]
Band = Literal["low", "medium", "high", "critical"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonOut(BaseModel):
    code: str
    text: str
    strength: float


class AccountRisk(BaseModel):
    account_id: str
    risk: float = Field(description="0-100")
    band: str = Field(description="low | medium | high | critical (models/scoring.py)")
    reasons: list[ReasonOut]
    cluster: str | None = Field(None, description="campaign cluster; not computed yet (null)")
    first_alert_at: datetime | None
    updated_at: datetime


class AccountPage(BaseModel):
    items: list[AccountRisk]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class AlertOut(BaseModel):
    alert_id: str
    account_id: str
    severity: str
    risk: float
    status: str = Field(description="open | acknowledged | resolved | false_positive")
    label: str | None
    reason_group: str
    reasons: list[ReasonOut]
    evidence: dict[str, Any]
    window_start: datetime | None
    window_end: datetime | None
    example_event_ids: list[str]
    escalations: int
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class LabelIn(Strict):
    label: Literal["true_positive", "false_positive"]
    note: Annotated[Text, Field(max_length=1000)] | None = Field(
        None, description="analyst's words; never paste prompt text here")


class AllowlistIn(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]
    expires_at: AwareDatetime = Field(description="RFC 3339 with offset; in the future, within "
                                      "DISTILLGUARD_ALLOWLIST_MAX_DAYS (default 90)")


class AllowlistEntry(BaseModel):
    account_id: str
    reason: str
    expires_at: datetime
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class AllowlistPage(BaseModel):
    items: list[AllowlistEntry]
    next_cursor: str | None


class DecisionOut(BaseModel):
    """A CrowdSec-style decision: `scope`/`value` say what to match, `type` what to do."""

    id: str
    origin: Literal["distillguard"] = "distillguard"
    scope: Literal["account", "api_key", "ip"]
    value: str
    type: Literal["monitor", "throttle", "strip_logprobs", "block"]
    scenario: str = Field(description="why: severity, risk and reason codes")
    duration: str = Field(description="time left, Go duration style, e.g. 5h59m30s")
    until: datetime
    account_id: str
    risk: float
    created_at: datetime


class DecisionStream(BaseModel):
    new: list[DecisionOut]
    deleted: list[DecisionOut]
