"""The bench's Faust baselines, with the worker's app settings: an app that only `json.loads`
each message of the input topic and acks it, in one of two iteration styles.

- `batches` (default): the worker's own style, whole fetched chunks from Faust's consumer
  (stream/batches/), acked by offset range after the batch;
- `noack_take`: Faust's stream API, `stream.noack()` + `noack_take(...)`, each event acked after
  its batch (what the worker used before).

Same settings object, so the same DISTILLGUARD_* variables run it; it serves
`distillguard_events_scored_total` (here: parsed) on the metrics port like the worker, so one
harness times both.

    python -m tests.bench.parse_only_worker [batches|noack_take]
"""

from __future__ import annotations

import json
import sys

import faust
from distillguard.stream.config import Settings
from distillguard.stream.topics import TopicNames, ensure_topics
from distillguard.stream.worker import RAW, make_app
from prometheus_client import CollectorRegistry, Counter, start_http_server


def main() -> None:
    style = sys.argv[1] if len(sys.argv) > 1 else "batches"
    sys.argv[1:] = []
    settings = Settings.load()
    names = TopicNames.of(settings)
    partitions = ensure_topics(settings.broker, [names.input], settings.partitions)[names.input]
    app = make_app(settings, partitions)
    registry = CollectorRegistry()
    parsed = Counter("distillguard_events_scored", "Messages parsed.", registry=registry)
    topic = app.topic(names.input, partitions=partitions, **RAW)

    if style == "batches":
        sink = app.batch_sink(topic)

        @app.task
        async def parse_only() -> None:
            async for batch in sink.batches(settings.batch_max, within=settings.batch_within_s):
                for chunk in batch:
                    for record in chunk.records:
                        json.loads(record.value)
                    parsed.inc(len(chunk.records))
                sink.ack(batch)
    else:
        @app.agent(topic, concurrency=1)
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
