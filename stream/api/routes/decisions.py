"""The decisions stream for bouncers (`decisions:read`), with CrowdSec's stream semantics.

`GET /v1/decisions/stream?startup=true` returns every decision in force as `new`. Each later
poll with startup=false returns what was added or extended (`new`, upsert by id) and what was
deleted or expired (`deleted`) since that token's previous poll. The cursor is kept per token
in the database, so a restarted bouncer polls on where it left off, or asks for start-up again.
"""

from __future__ import annotations

from typing import Annotated

from distillguard.sinks.decisions import aware, poll
from distillguard.stream.api.auth import Principal
from distillguard.stream.api.deps import AUTH_RESPONSES, Ctx, require
from distillguard.stream.api.schemas import DecisionOut, DecisionStream
from fastapi import APIRouter, Depends, Query

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=AUTH_RESPONSES)
SCOPES = ("account", "api_key", "ip")


def go_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    hours, rest = divmod(s, 3600)
    return f"{hours}h{rest // 60}m{rest % 60}s"


def _decision(row, now) -> DecisionOut:
    until = aware(row["expires_at"])
    return DecisionOut(id=row["decision_id"], scope=row["scope_type"], value=row["scope_value"],
                       type=row["action"], scenario=row["reason"],
                       duration=go_duration((until - now).total_seconds()), until=until,
                       account_id=row["account_id"], risk=row["risk"],
                       created_at=aware(row["created_at"]))


@router.get("/stream", response_model=DecisionStream)
def decisions_stream(ctx: Ctx, who: Annotated[Principal, Depends(require("decisions:read"))],
                     startup: bool = False,
                     scopes: Annotated[str | None, Query(
                         max_length=64, pattern=r"^(account|api_key|ip)(,(account|api_key|ip))*$",
                         description="comma-separated subset of account,api_key,ip")] = None,
                     ) -> DecisionStream:
    """Decisions to add and to remove since this token's previous poll (all on start-up)."""
    now = ctx.clock()
    wanted = set(scopes.split(",")) if scopes else set(SCOPES)
    conn = ctx.engine.connect()
    if ctx.engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    with conn, conn.begin():
        page = poll(conn, who.token_id, now, startup)
    return DecisionStream(
        new=[_decision(r, now) for r in page.new if r["scope_type"] in wanted],
        deleted=[_decision(r, now) for r in page.deleted if r["scope_type"] in wanted])
