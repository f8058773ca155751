"""Long-running side services the worker starts next to its Faust agents.

Each runs on its own Kafka consumer group, so a slow database or a failing webhook delays only
that service, never scoring. Each is supervised (sinks/retry.py `supervise`): one that fails, at
start-up (database or broker not there yet) or later, is restarted with backoff and counted in
`distillguard_service_restarts_total{service}`, instead of staying dead while scoring goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from distillguard.sinks.metrics import Metrics
from distillguard.sinks.retry import Backoff, retry, supervise
from distillguard.stream.config import Settings

Service = Callable[[], Awaitable[None]]
STARTUP = Backoff(base_s=0.5, max_s=5.0)


def side_services(settings: Settings, metrics: Metrics) -> list[Service]:
    services: list[Service] = []

    async def persist() -> None:
        from distillguard.sinks.migrate import upgrade
        from distillguard.sinks.store import RiskStore
        from distillguard.stream.persist import Persister
        from distillguard.stream.topics import TopicNames

        names = TopicNames.of(settings)

        def prepare() -> RiskStore:
            upgrade(settings.database_url)
            return RiskStore(settings.database_url, settings.sink_batch)

        # Off the event loop: migrations block for a second or more on PostgreSQL, and a blocked
        # loop at start-up made Faust skip messages it had fetched (see stream/offset_gaps.py).
        # A database that is not there yet is waited for here, polled every few seconds, rather
        # than by restarting the whole service with its longer backoff.
        loop = asyncio.get_running_loop()
        store = await retry(lambda: loop.run_in_executor(None, prepare),
                            what="store sink start-up (migrations)", backoff=STARTUP)
        try:
            await Persister(settings.broker, f"{settings.app_id}-store-sink", names.risk,
                            names.alerts, store, metrics, settings.sink_batch,
                            settings.sink_flush_s).run()
        finally:
            store.engine.dispose()  # a restart builds a new store; no pool left behind

    async def decide() -> None:
        from distillguard.stream.decider import run_decider

        try:
            await run_decider(settings, metrics)
        except Exception:
            metrics.sink_failures.labels(sink="decisions").inc()  # as documented in secops.md
            raise

    async def notify() -> None:
        from distillguard.sinks.webhooks import RetryPolicy
        from distillguard.stream.notify import run_notifier

        await run_notifier(settings, metrics, policy=RetryPolicy(timeout_s=settings.webhook_timeout_s))

    if settings.sink_enabled:
        services.append(supervised("persist", persist, metrics))
        if settings.decisions_enabled:
            services.append(supervised("decide", decide, metrics))
    if settings.webhook_urls or settings.webhook_slack_urls:
        services.append(supervised("notify", notify, metrics))
    return services


def supervised(name: str, run: Service, metrics: Metrics) -> Service:
    """`run`, restarted whenever it fails; the restarts are counted."""
    restarts = metrics.service_restarts.labels(service=name)

    async def service() -> None:
        await supervise(name, run, on_failure=lambda err, failures: restarts.inc())

    service.__name__ = service.__qualname__ = name
    return service
