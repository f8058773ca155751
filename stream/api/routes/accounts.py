"""Account risk, for billing (`risk:read`) and SecOps."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from distillguard.sinks.schema import account_risk
from distillguard.stream.api.deps import AUTH_RESPONSES, Ctx, require
from distillguard.stream.api.pagination import MAX_CURSOR, decode_cursor, encode_cursor
from distillguard.stream.api.schemas import ACCOUNT_ID_PATTERN, AccountPage, AccountRisk, ReasonOut
from fastapi import APIRouter, Depends, HTTPException, Path, Query

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], responses=AUTH_RESPONSES,
                   dependencies=[Depends(require("risk:read"))])
AccountId = Annotated[str, Path(min_length=1, max_length=128, pattern=ACCOUNT_ID_PATTERN)]


def reasons_out(reasons) -> list[ReasonOut]:
    return [ReasonOut(code=str(r.get("code", "")), text=str(r.get("text", "")),
                      strength=float(r.get("strength", 0.0)))
            for r in reasons or [] if isinstance(r, dict)]


def _account(row) -> AccountRisk:
    return AccountRisk(account_id=row.account_id, risk=row.risk, band=row.severity,
                       reasons=reasons_out(row.reasons), cluster=None,
                       first_alert_at=row.first_alert_at, updated_at=row.updated_at)


@router.get("/{account_id:path}/risk", response_model=AccountRisk,
            responses={404: {"description": "no risk recorded for this account"}})
def account_risk_of(account_id: AccountId, ctx: Ctx) -> AccountRisk:
    """Current risk of one account: score 0-100, band, reasons strongest first."""
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(account_risk).where(
            account_risk.c.account_id == account_id)).first()
    if row is None:
        raise HTTPException(404, "unknown account")
    return _account(row)


@router.get("", response_model=AccountPage,
            responses={400: {"description": "invalid cursor"}})
def list_accounts(ctx: Ctx,
                  min_risk: Annotated[float, Query(ge=0, le=100)] = 0.0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
                  ) -> AccountPage:
    """Accounts by risk, highest first (ties by account_id); keyset-paginated."""
    query = sa.select(account_risk).where(account_risk.c.risk >= min_risk)
    if cursor:
        risk, account_id = decode_cursor("accounts", cursor, float, str)
        query = query.where(sa.or_(account_risk.c.risk < risk,
                                   sa.and_(account_risk.c.risk == risk,
                                           account_risk.c.account_id > account_id)))
    query = query.order_by(account_risk.c.risk.desc(), account_risk.c.account_id).limit(limit + 1)
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1] if rows else None
    return AccountPage(items=[_account(r) for r in rows],
                       next_cursor=encode_cursor("accounts", last.risk, last.account_id)
                       if more and last else None)
