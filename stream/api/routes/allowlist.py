"""The allowlist: accounts that get no enforcement decisions until an expiry.

Lifting enforcement is a stronger power than triage, so changing the list needs its own
`allowlist` scope; reading it needs `triage` or `allowlist`. Putting an account on the list
also deletes its decisions in force, in the same transaction, so bouncers lift them at their
next poll; the decider creates none while the entry is active. An expiry is required, at most
DISTILLGUARD_ALLOWLIST_MAX_DAYS ahead: exceptions are reviewed, not forgotten.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from distillguard.sinks.decisions import aware, revoke_account
from distillguard.sinks.schema import allowlist
from distillguard.stream.api.auth import Principal
from distillguard.stream.api.deps import AUTH_RESPONSES, Ctx, require
from distillguard.stream.api.pagination import MAX_CURSOR, decode_cursor, encode_cursor
from distillguard.stream.api.schemas import ACCOUNT_ID_PATTERN, AllowlistEntry, AllowlistIn, AllowlistPage
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Query, Response
from sqlalchemy.dialects import postgresql, sqlite

router = APIRouter(prefix="/v1/allowlist", tags=["allowlist"], responses=AUTH_RESPONSES)
Reader = Annotated[Principal, Depends(require("triage", "allowlist"))]
Writer = Annotated[Principal, Depends(require("allowlist"))]
AccountId = Annotated[str, Path(min_length=1, max_length=128, pattern=ACCOUNT_ID_PATTERN)]


def _entry(row, now) -> AllowlistEntry:
    return AllowlistEntry(account_id=row.account_id, reason=row.reason,
                          expires_at=row.expires_at, active=aware(row.expires_at) > now,
                          created_by=row.created_by, created_at=row.created_at,
                          updated_at=row.updated_at)


@router.get("", response_model=AllowlistPage, responses={400: {"description": "invalid cursor"}})
def list_allowlist(ctx: Ctx, _: Reader,
                   include_expired: bool = False,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
                   ) -> AllowlistPage:
    """Entries by account_id; expired ones only with include_expired=true."""
    now = ctx.clock()
    query = sa.select(allowlist)
    if not include_expired:
        query = query.where(allowlist.c.expires_at > now)
    if cursor:
        (after,) = decode_cursor("allowlist", cursor, str)
        query = query.where(allowlist.c.account_id > after)
    query = query.order_by(allowlist.c.account_id).limit(limit + 1)
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
    more, rows = len(rows) > limit, rows[:limit]
    return AllowlistPage(items=[_entry(r, now) for r in rows],
                         next_cursor=encode_cursor("allowlist", rows[-1].account_id)
                         if more else None)


@router.put("/{account_id:path}", response_model=AllowlistEntry,
            responses={422: {"description": "expires_at not in the future or too far ahead"}})
def put_allowlist(account_id: AccountId, body: AllowlistIn, ctx: Ctx, who: Writer,
                  background: BackgroundTasks) -> AllowlistEntry:
    """Add or replace an entry; the account's decisions in force are deleted at once."""
    now = ctx.clock()
    days = ctx.allowlist_max_days
    if not now < body.expires_at <= now + timedelta(days=days):
        raise HTTPException(422, f"expires_at must be in the future and at most {days:g} days "
                                 "ahead (DISTILLGUARD_ALLOWLIST_MAX_DAYS)")
    values = {"account_id": account_id, "reason": body.reason, "expires_at": body.expires_at,
              "created_by": who.name, "created_at": now, "updated_at": now}
    insert = postgresql.insert if ctx.engine.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(allowlist).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=["account_id"], set_={
        "reason": body.reason, "expires_at": body.expires_at, "created_by": who.name,
        "updated_at": now})
    with ctx.engine.begin() as conn:
        changes = revoke_account(conn, account_id, now)
        conn.execute(stmt)
        row = conn.execute(sa.select(allowlist).where(allowlist.c.account_id == account_id)).one()
    background.add_task(ctx.publisher.send_decisions, changes)
    return _entry(row, now)


@router.delete("/{account_id:path}", status_code=204,
               responses={404: {"description": "not listed"}})
def delete_allowlist(account_id: AccountId, ctx: Ctx, _: Writer) -> Response:
    """Remove an entry: the account is enforced on again from its next risk update."""
    with ctx.engine.begin() as conn:
        deleted = conn.execute(allowlist.delete().where(allowlist.c.account_id == account_id))
    if deleted.rowcount == 0:
        raise HTTPException(404, "account not on the allowlist")
    return Response(status_code=204)
