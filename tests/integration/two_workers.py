"""What the kill tests share: a producer that sends steadily (in the two-worker tests every
third event twice, as a producer retry would) and holds the end of the stream until the kill,
and the moment to kill the second of two workers: once both have flushed and committed work of
their own."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.integration.test_kafka_e2e import producer
from tests.integration.worker_proc import WorkerProcess


def scored(worker: WorkerProcess) -> float:
    try:
        return worker.metrics()["distillguard_events_scored_total"]
    except OSError:  # a scrape that raced the worker's start
        return 0.0


class SteadySender(threading.Thread):
    """Sends `events` keyed by account, `pause_s` after every `every`, and holds before the
    `hold_at` share of the stream until `resume()` (called once the worker is killed): whatever
    the machine's load, the kill lands mid-stream, and the offsets the kill waits for have
    events left to move over. `retries`: every third event is sent twice."""

    def __init__(self, broker: str, topic: str, events: list[dict], pause_s: float, *,
                 every: int = 25, retries: bool = True, hold_at: float = 0.9) -> None:
        super().__init__()
        self.broker, self.topic, self.events, self.pause_s = broker, topic, events, pause_s
        self.every, self.retries, self.hold = every, retries, int(len(events) * hold_at)
        self._resumed = threading.Event()

    def resume(self) -> None:
        self._resumed.set()

    def run(self) -> None:
        p = producer(self.broker)
        for i, e in enumerate(self.events):
            if i == self.hold:
                p.flush()
                self._resumed.wait(timeout=180)
            value = json.dumps(e).encode()
            p.send(self.topic, key=e["account_id"].encode(), value=value)
            if self.retries and i % 3 == 0:  # a producer retry: the copy must not count
                p.send(self.topic, key=e["account_id"].encode(), value=value)
            if i % self.every == 0:
                p.flush()
                time.sleep(self.pause_s)
        p.flush()
        p.close()


def send_steadily(broker: str, topic: str, events: list[dict], pause_s: float,
                  **options) -> SteadySender:
    sender = SteadySender(broker, topic, events, pause_s, **options)
    sender.start()
    return sender


def wait_until_both_committed(first: WorkerProcess, second: WorkerProcess, events: int,
                              partitions: int, timeout_s: float = 120) -> None:
    """Until both score, a third of the stream is scored, and every partition's committed
    offset moved after the second took its share: killed earlier, the second may have flushed
    nothing, and the survivor would rightly redo all of its work, proving nothing."""
    deadline, since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        a, b = scored(first), scored(second)
        committed = first.committed_by_partition()
        if since is None and a > 0 and b > 0 and len(committed) == partitions:
            since = committed  # both are scoring: the second owns some partitions now
        elif since is not None and a + b >= events / 3 and all(
                committed[p] > since[p] for p in since):
            assert a + b < events, "killed too late"
            return
        time.sleep(0.5)
    pytest.fail(f"both workers did not score a third: {scored(first)}, {scored(second)}")
