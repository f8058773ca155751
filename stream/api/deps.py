"""What every route needs: the app's context and a scope check on the bearer token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from distillguard.stream.api.auth import Principal, authenticate
from distillguard.stream.api.metrics import ApiMetrics
from distillguard.stream.api.publisher import Publisher
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# Documented on every protected router so the OpenAPI document lists them.
AUTH_RESPONSES: dict[int | str, dict] = {
    401: {"description": "missing, invalid, revoked or expired bearer token"},
    403: {"description": "the token lacks the scope this endpoint needs"},
    503: {"description": "database unavailable; retry"},
}
bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer dg_<id>.<secret>`")


@dataclass
class ApiContext:
    engine: sa.Engine
    clock: Callable[[], datetime]
    metrics: ApiMetrics
    publisher: Publisher
    allowlist_max_days: float = 90.0


def context(request: Request) -> ApiContext:
    return request.app.state.ctx


Ctx = Annotated[ApiContext, Depends(context)]


def require(scope: str, *alternatives: str) -> Callable[..., Principal]:
    """Dependency: 401 without a valid, unexpired token (RFC 6750 challenge), 403 without
    `scope` (or one of `alternatives`)."""
    accepted = (scope, *alternatives)

    def check(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                               Security(bearer)]) -> Principal:
        if credentials is None:
            ctx.metrics.auth_failures.labels("missing").inc()
            raise HTTPException(401, "bearer token required",
                                headers={"WWW-Authenticate": "Bearer"})
        with ctx.engine.connect() as conn:
            principal = authenticate(conn, credentials.credentials)
        if principal is None:
            ctx.metrics.auth_failures.labels("invalid").inc()
            raise HTTPException(401, "invalid or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if principal.expired(ctx.clock()):
            ctx.metrics.auth_failures.labels("expired").inc()
            raise HTTPException(401, f"token {principal.name!r} expired at "
                                f"{principal.expiry_text()}; ask for a new one "
                                "(distillguard token create)", headers={
                                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                                                        'error_description="token expired"'})
        if not any(principal.allows(s) for s in accepted):
            ctx.metrics.auth_failures.labels("scope").inc()
            wanted = " or ".join(accepted)
            raise HTTPException(403, f"token lacks scope {wanted}", headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(accepted)}"'})
        return principal

    return check
