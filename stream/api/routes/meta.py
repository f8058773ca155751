"""Unauthenticated operational endpoints: health and Prometheus metrics (no account data)."""

from __future__ import annotations

import sqlalchemy as sa
from distillguard.stream.api.deps import Ctx
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", responses={503: {"description": "database unreachable"}})
def healthz(ctx: Ctx) -> dict[str, str]:
    """200 when the database answers."""
    with ctx.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
