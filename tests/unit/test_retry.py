"""The one retry helper: the policy's delays, and the loops that apply it (with fake clocks)."""

from __future__ import annotations

import asyncio

import pytest
from distillguard.sinks.retry import (
    DATABASE,
    Backoff,
    paused_polling,
    retry,
    retry_sync,
    supervise,
)


def test_delay_doubles_up_to_the_cap_with_equal_jitter():
    policy = Backoff(base_s=1.0, max_s=8.0, jitter=0.5)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (30, 8.0)]:
        assert policy.delay(failures, rand=lambda: 0.0) == ceiling / 2
        assert policy.delay(failures, rand=lambda: 1.0) == ceiling
    no_jitter = Backoff(base_s=0.5, max_s=2.0, jitter=0.0)
    assert [no_jitter.delay(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 2.0]


def test_retry_after_is_honoured_capped_and_never_undercuts():
    policy = Backoff(base_s=1.0, max_s=8.0, max_retry_after_s=60.0)
    assert policy.delay(1, retry_after_s=30.0) == 30.0
    assert policy.delay(1, retry_after_s=3600.0) == 60.0
    assert policy.delay(3, retry_after_s=0.0, rand=lambda: 1.0) == 4.0


def test_database_policy_resumes_within_a_second():
    assert max(DATABASE.delay(n) for n in range(1, 100)) <= 1.0


class Flaky:
    def __init__(self, failures: int, error: type[BaseException] = ConnectionError) -> None:
        self.left, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.left:
            self.left -= 1
            raise self.error("down")
        return "ok"


def test_retry_until_it_works_waiting_the_policy_delays():
    waits: list[float] = []
    seen: list[int] = []
    attempt = Flaky(4)

    async def fake_wait(seconds: float) -> None:
        waits.append(seconds)

    async def go():
        return await retry(lambda: asyncio.sleep(0, attempt()), what="write",
                           backoff=Backoff(base_s=1.0, max_s=4.0, jitter=0.0), wait=fake_wait,
                           on_failure=lambda err, n: seen.append(n))

    assert asyncio.run(go()) == "ok"
    assert attempt.calls == 5 and waits == [1.0, 2.0, 4.0, 4.0] and seen == [1, 2, 3, 4]


def test_retry_lets_other_errors_through():
    attempt = Flaky(1, error=KeyError)

    async def go():
        return await retry(lambda: asyncio.sleep(0, attempt()), what="write",
                           retry_on=(ConnectionError,), wait=lambda s: asyncio.sleep(0))

    with pytest.raises(KeyError):
        asyncio.run(go())
    assert attempt.calls == 1


def test_retry_sync_gives_up_at_the_deadline_with_the_last_error():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    attempt = Flaky(100)
    with pytest.raises(ConnectionError):
        retry_sync(attempt, what="connect", timeout_s=10.0,
                   backoff=Backoff(base_s=1.0, max_s=4.0, jitter=0.0), sleep=sleep,
                   clock=lambda: now[0])
    assert slept == [1.0, 2.0, 4.0, 3.0]   # the last wait is cut to the deadline
    assert attempt.calls == 5
    assert retry_sync(Flaky(2), what="connect", timeout_s=10.0, sleep=lambda s: None) == "ok"


def test_supervise_restarts_until_a_run_returns_and_resets_after_a_healthy_run():
    now = [0.0]
    runs = iter([0.0, 0.0, 100.0, 0.0, None])   # seconds each run lasts before it fails
    failures: list[int] = []

    async def run() -> None:
        lasts = next(runs)
        if lasts is None:
            return
        now[0] += lasts
        raise RuntimeError("crashed")

    async def go():
        await supervise("svc", run, wait=lambda s: asyncio.sleep(0), clock=lambda: now[0],
                        healthy_after_s=60.0, on_failure=lambda err, n: failures.append(n))

    asyncio.run(go())
    assert failures == [1, 2, 1, 2]   # the 100 s run started the count over


def test_supervise_passes_cancellation_through():
    async def run() -> None:
        await asyncio.sleep(3600)

    async def go():
        task = asyncio.create_task(supervise("svc", run))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


class FakeRecord:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class FakeConsumer:
    """Records what the wait does; hands out one record of a partition assigned mid-wait."""

    def __init__(self) -> None:
        self.assigned = {"p0"}
        self.paused: set[str] = set()
        self.polls = 0
        self.sought: list[tuple[str, int]] = []

    def assignment(self):
        return set(self.assigned)

    def pause(self, *tps):
        self.paused |= set(tps)

    def resume(self, *tps):
        self.paused -= set(tps)

    def seek(self, tp, offset):
        self.sought.append((tp, offset))

    async def getmany(self, timeout_ms: int = 0):
        assert self.paused == self.assigned, "polled with a partition not paused"
        self.polls += 1
        await asyncio.sleep(timeout_ms / 1000)
        if self.polls == 2:
            self.assigned.add("p1")
            return {"p1": [FakeRecord(7), FakeRecord(8)]}
        return {}


def test_paused_polling_keeps_polling_and_puts_back_what_it_fetched():
    consumer = FakeConsumer()
    asyncio.run(paused_polling(consumer, poll_s=0.02)(0.1))
    assert consumer.polls >= 4               # polled all along, not one long sleep
    assert consumer.sought == [("p1", 7)]    # the new partition is read from its first record
    assert consumer.paused == set()          # everything resumed afterwards
