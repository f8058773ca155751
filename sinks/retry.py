"""One retry policy for every transient failure, and the loops that apply it.

Why one module: database writes, broker sends, webhook posts, topic creation and whole side
services all retried with their own hand-written loops, caps and log lines (a 30 s cap made the
persister deliver rows half a minute after the database was back). Here the policy is a pure
value (`Backoff.delay`), and the loops around it are small: `retry` (async, until it works),
`retry_sync` (blocking, with a deadline), `supervise` (restart a long-running task when it
fails), and `paused_polling` (a wait that keeps a Kafka consumer in its group meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
Wait = Callable[[float], Awaitable[None]]
OnFailure = Callable[[BaseException, int], None]   # (error, failures so far)


# --- the policy ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Backoff:
    """Exponential backoff, capped. `jitter` is the random share of each delay: 0.5 is "equal
    jitter" (half fixed, half random), so retries of many clients spread out but still grow."""

    base_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5
    max_retry_after_s: float = 600.0   # a server cannot park us for longer than this

    def delay(self, failures: int, retry_after_s: float | None = None,
              rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1 = the first). A server's
        Retry-After is honoured, capped, and never undercut."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, failures - 1))
        delay = ceiling * (1 - self.jitter) + ceiling * self.jitter * rand()
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return delay


# A database that comes back is written to within about a second: one cheap failed connect per
# second while it is down is nothing, a 30 s sleep after it is back is a 30 s hole in the tables.
DATABASE = Backoff(base_s=0.1, max_s=1.0)
BROKER = Backoff(base_s=0.5, max_s=5.0)
RESTART = Backoff(base_s=1.0, max_s=60.0)


def describe(err: BaseException) -> str:
    """`Type: first line of the message`: database errors carry pages of SQL after it."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


class _Reporter:
    """Logs the first failure, then at most one line per `every_s`, and the recovery: a
    six-minute outage at one attempt per second is a dozen lines, not 360."""

    def __init__(self, what: str, logger: logging.Logger, every_s: float = 30.0) -> None:
        self.what, self.log, self.every_s = what, logger, every_s
        self.started = self.last = 0.0

    def failed(self, err: BaseException, failures: int, delay: float) -> None:
        now = time.monotonic()
        if failures == 1:
            self.started = now
        if failures == 1 or now - self.last >= self.every_s:
            self.last = now
            self.log.warning("%s failed (%s); attempt %d, retrying in %.1fs", self.what,
                             describe(err), failures, delay)

    def recovered(self, failures: int) -> None:
        if failures:
            self.log.warning("%s recovered after %d failed attempts in %.1fs", self.what,
                             failures, time.monotonic() - self.started)


# --- async: until it works ----------------------------------------------------------------------

async def retry(attempt: Callable[[], Awaitable[T]], *, what: str, backoff: Backoff = DATABASE,
                wait: Wait = asyncio.sleep,
                retry_on: tuple[type[BaseException], ...] = (Exception,),
                on_failure: OnFailure | None = None,
                logger: logging.Logger = log) -> T:
    """`await attempt()` until it returns. Errors outside `retry_on` (and cancellation) pass
    through. `wait` is how to spend the delay: `paused_polling(consumer)` keeps a consumer alive."""
    report = _Reporter(what, logger)
    failures = 0
    while True:
        try:
            result = await attempt()
        except retry_on as err:
            failures += 1
            if on_failure is not None:
                on_failure(err, failures)
            delay = backoff.delay(failures)
            report.failed(err, failures, delay)
            await wait(delay)
            continue
        report.recovered(failures)
        return result


# --- blocking: with a deadline ------------------------------------------------------------------

def retry_sync(attempt: Callable[[], T], *, what: str, timeout_s: float,
               backoff: Backoff = BROKER,
               retry_on: tuple[type[BaseException], ...] = (Exception,),
               sleep: Callable[[float], Any] = time.sleep,
               clock: Callable[[], float] = time.monotonic,
               logger: logging.Logger = log) -> T:
    """`attempt()` until it returns or `timeout_s` has passed; then the last error is raised."""
    report = _Reporter(what, logger)
    deadline = clock() + timeout_s
    failures = 0
    while True:
        try:
            result = attempt()
        except retry_on as err:
            failures += 1
            left = deadline - clock()
            if left <= 0:
                raise
            delay = min(backoff.delay(failures), left)
            report.failed(err, failures, delay)
            sleep(delay)
            continue
        report.recovered(failures)
        return result


# --- long-running tasks: restart when they fail -------------------------------------------------

async def supervise(name: str, run: Callable[[], Awaitable[None]], *, backoff: Backoff = RESTART,
                    healthy_after_s: float = 60.0, wait: Wait = asyncio.sleep,
                    on_failure: OnFailure | None = None,
                    clock: Callable[[], float] = time.monotonic,
                    logger: logging.Logger = log) -> None:
    """Run `run()` again whenever it raises, with backoff; a run that lasted `healthy_after_s`
    starts the backoff over. Returns when `run()` returns; cancellation passes through.

    Why: a side service (persister, decider, webhooks) that died used to stay dead, or took the
    worker with it; either way rows or alerts stopped while scoring went on.
    """
    failures = 0
    while True:
        started = clock()
        try:
            await run()
            return
        except Exception as err:
            failures = 1 if clock() - started >= healthy_after_s else failures + 1
            if on_failure is not None:
                on_failure(err, failures)
            delay = backoff.delay(failures)
            logger.error("%s stopped (%s); restarting in %.1fs (failure %d)", name,
                         describe(err), delay, failures, exc_info=err)
            await wait(delay)


# --- waiting without leaving the consumer group -------------------------------------------------

def paused_polling(consumer: Any, poll_s: float = 1.0) -> Wait:
    """A wait that keeps polling an aiokafka consumer with every partition paused.

    aiokafka drops a member that has not polled for max.poll.interval.ms (5 min): a consumer
    that sleeps through a long outage is evicted, its partitions move, and it comes back to a
    rebalance and duplicate work. Polling a paused consumer returns nothing but counts as a
    poll; a partition assigned during the wait is paused too, and anything fetched from it is
    put back (sought to its first offset) to be read normally afterwards.
    """
    async def wait(seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while (left := deadline - loop.time()) > 0:
                consumer.pause(*consumer.assignment())
                fetched = await consumer.getmany(timeout_ms=max(1, int(min(left, poll_s) * 1000)))
                for tp, records in fetched.items():
                    consumer.seek(tp, records[0].offset)
        finally:
            consumer.resume(*consumer.assignment())
    return wait
