"""Every side service is supervised: a failure restarts it and is counted, never lost."""

from __future__ import annotations

import asyncio

from distillguard.sinks.metrics import Metrics
from distillguard.stream.config import Settings
from distillguard.stream.services import side_services, supervised


def test_a_failing_service_is_restarted_and_counted():
    metrics, calls = Metrics(), []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database not there yet")

    asyncio.run(supervised("persist", flaky, metrics)())
    assert len(calls) == 2
    assert metrics.registry.get_sample_value("distillguard_service_restarts_total",
                                             {"service": "persist"}) == 1


def test_every_side_service_is_wrapped():
    settings = Settings(webhook_urls="http://127.0.0.1:31199/hook")
    names = [s.__name__ for s in side_services(settings, Metrics())]
    assert names == ["persist", "decide", "notify"]
