"""Alert triage for SecOps (`triage`): list, acknowledge, resolve, label.

Lifecycle (anything else is a 409):
    open ──ack──> acknowledged ──resolve──> resolved
      └────────────resolve─────────────────────┘
    open | acknowledged | resolved ──label false_positive──> false_positive
    label true_positive: any status but false_positive; the status stays.
Every label is also stored in alert_labels and sent as feedback to the worker via Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from distillguard.sinks.schema import alert_labels, alerts
from distillguard.stream.api.auth import Principal
from distillguard.stream.api.deps import AUTH_RESPONSES, Ctx, require
from distillguard.stream.api.pagination import MAX_CURSOR, decode_cursor, encode_cursor
from distillguard.stream.api.routes.accounts import reasons_out
from distillguard.stream.api.schemas import (
    ACCOUNT_ID_PATTERN,
    ALERT_ID_PATTERN,
    AlertOut,
    AlertPage,
    AlertStatus,
    LabelIn,
)
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Query

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=AUTH_RESPONSES)
Triage = Annotated[Principal, Depends(require("triage"))]
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=ALERT_ID_PATTERN)]
# action -> {from status: to status}
TRANSITIONS = {
    "ack": {"open": "acknowledged"},
    "resolve": {"open": "resolved", "acknowledged": "resolved"},
    "false_positive": {s: "false_positive" for s in ("open", "acknowledged", "resolved")},
    "true_positive": {s: s for s in ("open", "acknowledged", "resolved")},
}
VERBS = {"ack": "acknowledge", "resolve": "resolve", "true_positive": "label true_positive",
         "false_positive": "label false_positive"}
CONFLICT = {409: {"description": "not allowed from the alert's current status"},
            404: {"description": "unknown alert"}}


def alert_out(row) -> AlertOut:
    evidence = row.evidence if isinstance(row.evidence, dict) else {}
    examples = row.example_event_ids if isinstance(row.example_event_ids, list) else []
    return AlertOut(alert_id=row.alert_id, account_id=row.account_id, severity=row.severity,
                    risk=row.risk, status=row.status, label=row.label,
                    reason_group=row.reason_group, reasons=reasons_out(row.reasons),
                    evidence=evidence, window_start=row.window_start, window_end=row.window_end,
                    example_event_ids=[str(e) for e in examples], escalations=row.escalations,
                    created_at=row.created_at, updated_at=row.updated_at,
                    acknowledged_at=row.acknowledged_at, resolved_at=row.resolved_at)


@router.get("", response_model=AlertPage, responses={400: {"description": "invalid cursor"}})
def list_alerts(ctx: Ctx, _: Triage,
                status: AlertStatus | None = None,
                account_id: Annotated[str | None, Query(min_length=1, max_length=128,
                                                        pattern=ACCOUNT_ID_PATTERN)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None) -> AlertPage:
    """Alerts, newest first; filter by status and account."""
    query = sa.select(alerts)
    if status:
        query = query.where(alerts.c.status == status)
    if account_id:
        query = query.where(alerts.c.account_id == account_id)
    if cursor:
        created, alert_id = decode_cursor("alerts", cursor, datetime, str)
        query = query.where(sa.or_(alerts.c.created_at < created,
                                   sa.and_(alerts.c.created_at == created,
                                           alerts.c.alert_id < alert_id)))
    query = query.order_by(alerts.c.created_at.desc(), alerts.c.alert_id.desc()).limit(limit + 1)
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
    more, rows = len(rows) > limit, rows[:limit]
    return AlertPage(items=[alert_out(r) for r in rows],
                     next_cursor=encode_cursor("alerts", rows[-1].created_at, rows[-1].alert_id)
                     if more else None)


def _transition(ctx: Ctx, alert_id: str, action: str, who: Principal,
                note: str | None = None) -> AlertOut:
    """Apply `action` under a row lock, so two analysts cannot race past the state machine."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)
                           .with_for_update()).first()
        if row is None:
            raise HTTPException(404, "unknown alert")
        to = TRANSITIONS[action].get(row.status)
        if to is None:
            raise HTTPException(409, f"cannot {VERBS[action]} an alert that is {row.status}")
        values: dict = {"status": to, "updated_at": now}
        if to == "acknowledged":
            values["acknowledged_at"] = now
        if to in ("resolved", "false_positive") and row.resolved_at is None:
            values["resolved_at"] = now
        if action in ("true_positive", "false_positive"):
            values["label"] = action
            conn.execute(alert_labels.insert().values(
                alert_id=alert_id, account_id=row.account_id, label=action, note=note,
                reason_codes=[r.code for r in reasons_out(row.reasons)],
                labelled_by=who.name, labelled_at=now))
        conn.execute(alerts.update().where(alerts.c.alert_id == alert_id).values(values))
        row = conn.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)).first()
    ctx.metrics.transitions.labels(to).inc()
    return alert_out(row)


@router.post("/{alert_id}/ack", response_model=AlertOut, responses=CONFLICT)
def ack(alert_id: AlertId, ctx: Ctx, who: Triage) -> AlertOut:
    """open -> acknowledged: someone is looking at it."""
    return _transition(ctx, alert_id, "ack", who)


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=CONFLICT)
def resolve(alert_id: AlertId, ctx: Ctx, who: Triage) -> AlertOut:
    """open | acknowledged -> resolved: handled."""
    return _transition(ctx, alert_id, "resolve", who)


@router.post("/{alert_id}/label", response_model=AlertOut, responses=CONFLICT)
def label(alert_id: AlertId, body: LabelIn, ctx: Ctx, who: Triage,
          background: BackgroundTasks) -> AlertOut:
    """Record the analyst's verdict; false_positive also closes the alert. The label is stored
    before anything is sent, then sent to the worker as feedback (retried until Kafka takes it)."""
    out = _transition(ctx, alert_id, body.label, who, body.note)
    background.add_task(ctx.publisher.flush_feedback)
    return out
