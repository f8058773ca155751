"""Two worker processes share a 4-partition input; one is SIGKILLed mid-stream and the survivor
takes over its partitions: no event lost, none counted twice, no profile reset.

As in test_kafka_restart: with DISTILLGUARD_SCORE_EVERY=1 each event yields a risk update whose
`seq` is the account's profile event count and account_risk keeps the highest seq, so
seq == distinct events sent exactly when nothing was lost, reset or double counted. Every event
is also sent twice (a producer retry): the copies must not count."""

from __future__ import annotations

import pytest

from tests.helpers import BASE_TS, chat_events, harvester_events
from tests.integration.test_kafka_e2e import sql, wait_sql
from tests.integration.two_workers import scored, send_steadily, wait_until_both_committed
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_survivor_takes_over_without_loss_or_double_count(kafka_broker, postgres_url, tmp_path):
    accounts = {f"tw-benign-{i}": chat_events(f"tw-benign-{i}", 300, start_ms=BASE_TS)
                for i in range(10)}
    accounts["tw-harvester"] = harvester_events("tw-harvester", 800, start_ms=BASE_TS)
    events = sorted((e for evs in accounts.values() for e in evs), key=lambda e: e["timestamp"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = WorkerProcess(kafka_broker, postgres_url, tmp_path / "a", partitions=4,
                          score_every="1")
    second = first.twin(tmp_path / "b")
    first.start()
    second.start()

    sender = send_steadily(kafka_broker, first.input_topic, events, 0.1)
    try:
        wait_until_both_committed(first, second, len(events), 4)
        second.kill()
        sender.resume()
        sender.join()
        expected = {acct: len(evs) for acct, evs in accounts.items()}
        try:
            rows = wait_sql(postgres_url, "SELECT account_id, seq FROM account_risk",
                            lambda r: {x.account_id: x.seq for x in r} == expected, timeout_s=120)
        except TimeoutError:
            pytest.fail(f"survivor: {scored(first)} scored; expected {expected}; current: "
                        f"{sql(postgres_url, 'SELECT account_id, seq FROM account_risk')}\n"
                        f"{first.log_tail(60)}")
        assert {r.account_id: r.seq for r in rows} == expected
        # The survivor recovered the dead worker's profiles from the changelog: it folded in
        # fewer events than the whole stream (a reset would also reach the right seq).
        assert scored(first) < len(events)
        assert "Error in recovery" not in first.log_tail(10_000)
        assert {a.account_id for a in sql(postgres_url, "SELECT account_id FROM alerts")} == {
            "tw-harvester"}
    finally:
        sender.resume()
        sender.join()
        first.stop()
        second.stop()
