"""App factory: `create_app(database_url, ...)` wires the database, clock, metrics and Kafka
publisher into the routers. The clock is injectable so tests can move time (TTL expiry)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from distillguard.stream.api.deps import ApiContext
from distillguard.stream.api.limits import BodyLimit
from distillguard.stream.api.metrics import ApiMetrics, MetricsMiddleware
from distillguard.stream.api.publisher import Publisher
from distillguard.stream.api.routes import accounts, alerts, allowlist, decisions, meta
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def create_app(database_url: str, *, broker: str | None = None, feedback_topic: str = "feedback",
               decisions_topic: str = "decisions", partitions: int = 4,
               clock: Callable[[], datetime] = utcnow, allowlist_max_days: float = 90.0,
               max_body_bytes: int = 65536) -> FastAPI:
    """`broker` None or empty: labels are stored but not sent as feedback (yet). `partitions`:
    for the feedback topic if the API has to create it (as many as the worker's input).
    `database_url` should be a login of the least-privilege role `distillguard_api`
    (migrations/versions/0005): the API writes only the triage tables."""
    engine = sa.create_engine(database_url, pool_pre_ping=True)
    metrics = ApiMetrics()
    publisher = Publisher(engine, metrics, broker, feedback_topic, decisions_topic, partitions)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pending = asyncio.create_task(publisher.flush_feedback())  # labels left from last run
        yield
        await pending
        await publisher.close()
        engine.dispose()

    app = FastAPI(title="distillguard risk and triage API", version="1",
                  description="Account risk for billing, alert triage for SecOps, "
                              "enforcement decisions for bouncers. Bearer tokens with scopes.",
                  lifespan=lifespan)
    app.state.ctx = ApiContext(engine, clock, metrics, publisher, allowlist_max_days)
    for module in (accounts, alerts, allowlist, decisions, meta):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts the 413s too

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InterfaceError)
    async def database_down(request: Request, err: Exception) -> JSONResponse:
        log.error("database unavailable: %s", str(err).splitlines()[0])
        return JSONResponse({"detail": "database unavailable"}, status_code=503,
                            headers={"Retry-After": "5"})

    return app
