"""The bench's Faust baseline: the worker's app settings and batch loop (noack + noack_take,
ack after the batch), but the agent only `json.loads` each message. Same settings object, so
the same DISTILLGUARD_* variables run it; it serves `distillguard_events_scored_total` (here:
parsed) on the metrics port like the worker, so one harness times both.

    python -m tests.bench.parse_only_worker
"""

from __future__ import annotations

import json

import faust
from distillguard.stream.config import Settings
from distillguard.stream.topics import TopicNames, ensure_topics
from distillguard.stream.worker import RAW, make_app
from prometheus_client import CollectorRegistry, Counter, start_http_server


def main() -> None:
    settings = Settings.load()
    names = TopicNames.of(settings)
    partitions = ensure_topics(settings.broker, [names.input], settings.partitions)[names.input]
    app = make_app(settings, partitions)
    registry = CollectorRegistry()
    parsed = Counter("distillguard_events_scored", "Messages parsed.", registry=registry)

    @app.agent(app.topic(names.input, partitions=partitions, **RAW), concurrency=1)
    async def parse_only(stream):
        events = stream.noack()
        async for batch in events.noack_take(settings.batch_max, within=settings.batch_within_s):
            for event in batch:
                json.loads(event.value)
            parsed.inc(len(batch))
            for event in batch:
                await events.ack(event)

    start_http_server(settings.metrics_port, addr="127.0.0.1", registry=registry)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
