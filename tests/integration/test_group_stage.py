"""The group stage across workers: two worker processes share a 4-partition input carrying a
hydra campaign whose members hash to every partition. The group stage is keyed by link key with
its own changelogged table, so every member must get its group reason exactly as `score` gives
it on the same file. Then one worker is SIGKILLed: the survivor takes over its partitions with
no event lost or counted twice (seq == distinct events, as in test_two_workers), and no group
or learned state reset (no group's member count and no learned count ever goes back)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from distillguard.models.engine_config import EngineConfig
from distillguard.models.groups import GroupState
from distillguard.models.learned import Learned
from distillguard.models.outcomes import RiskUpdate
from distillguard.sinks.base import ListSink
from distillguard.stream.agents.rekey import partition_for
from distillguard.stream.replay import replay_file

from tests.helpers import BASE_TS, chat_events, harvester_events
from tests.integration.test_kafka_e2e import sql, wait_sql
from tests.integration.two_workers import scored, send_steadily, wait_until_both_committed
from tests.integration.worker_proc import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PARTITIONS = 4
decode_group = msgspec.msgpack.Decoder(GroupState).decode


def campaign_traffic() -> tuple[list[dict], set[str]]:
    """A campaign of 12 harvesting accounts paying with one card through one proxy range and
    client, and 20 ordinary accounts, one of which shares the campaign's client and network
    (so the client alone links nobody); events in time order."""
    hydra = {f"hydra-{i}" for i in range(12)}
    events = []
    for i, account in enumerate(sorted(hydra)):
        for e in harvester_events(account, 150, start_ms=BASE_TS + i * 7_000, step_ms=20_000):
            events.append({**e, "payment_fingerprint": "card-7f3a", "source_ip": f"203.0.113.{i}",
                           "user_agent": "python-requests/2.31", "asn": 64512})
    for i in range(20):
        for e in chat_events(f"ordinary-{i}", 150, start_ms=BASE_TS + i * 11_000, step_ms=20_000):
            shared = i == 0  # same network and client as the campaign, its own card
            events.append({**e, "payment_fingerprint": f"card-{i}",
                           "source_ip": "203.0.113.99" if shared else f"198.51.100.{i}",
                           "user_agent": "python-requests/2.31" if shared else "openai-python/1.54",
                           "asn": 64512 if shared else 64600 + i})
    return sorted(events, key=lambda e: e["timestamp"]), hydra


def group_reasons(rows) -> dict[str, int]:
    """account -> size of its strongest group, for accounts whose reasons include one (the
    strongest of two near-equal groups may differ with timing; membership may not)."""
    out = {}
    for account, reasons in rows:
        for r in reasons:
            if r["code"] == "hydra_cluster":
                out[account] = int(r["evidence"]["cluster_size"])
    return out


async def read_topic(broker: str, topic: str, partitions: int) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a topic, in offset order per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for msg in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    out.append((msg.key, msg.value))
        return out
    finally:
        await consumer.stop()


def test_group_reasons_across_workers_match_score_and_survive_a_kill(kafka_broker, postgres_url,
                                                                      tmp_path):
    events, hydra = campaign_traffic()
    encode = msgspec.json.Encoder().encode
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode(e) for e in events) + b"\n")
    assert {partition_for(a.encode(), PARTITIONS) for a in hydra} == set(range(PARTITIONS))

    # `score` on the same file, with the same cadence as the workers below
    outputs = ListSink()
    replay_file(path, outputs, tmp_path / "dlq.jsonl", config=EngineConfig(score_every=1),
                progress=False)
    final: dict[str, RiskUpdate] = {}
    for out in outputs.items:
        if isinstance(out, RiskUpdate):
            final[out.account_id] = out
    expected_groups = group_reasons((a, msgspec.to_builtins(u.reasons)) for a, u in final.items())
    assert hydra <= set(expected_groups), "score itself must link the campaign"
    assert all(final[a].risk < 80 for a in set(expected_groups) - hydra)  # linked, not proven

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = WorkerProcess(kafka_broker, postgres_url, tmp_path / "a", partitions=PARTITIONS,
                          score_every="1")
    second = first.twin(tmp_path / "b")
    first.start()
    second.start()

    sender = send_steadily(kafka_broker, first.input_topic, events, 0.08)
    try:
        wait_until_both_committed(first, second, len(events), PARTITIONS)
        second.kill()
        sender.resume()
        sender.join()
        expected_seq = {a: u.seq for a, u in final.items()}
        try:
            wait_sql(postgres_url, "SELECT account_id, seq FROM account_risk",
                     lambda r: {x.account_id: x.seq for x in r} == expected_seq, timeout_s=180)
        except TimeoutError:
            pytest.fail(f"survivor: {scored(first)} scored\n{first.log_tail(60)}")

        # every verdict has reached its member once the group stage is idle
        def groups_settled(rows) -> bool:
            return set(group_reasons((r.account_id, r.reasons) for r in rows)) == set(
                expected_groups)

        try:
            rows = wait_sql(postgres_url, "SELECT account_id, reasons FROM account_risk",
                            groups_settled, timeout_s=60)
        except TimeoutError:
            rows = sql(postgres_url, "SELECT account_id, reasons FROM account_risk")
        got = group_reasons((r.account_id, r.reasons) for r in rows)
        assert set(got) == set(expected_groups), (
            f"missing {set(expected_groups) - set(got)}, extra {set(got) - set(expected_groups)}")
        assert "Error in recovery" not in first.log_tail(10_000)

        # no group state was reset by the hand-over: each group's record only ever grows
        app = first.env["DISTILLGUARD_APP_ID"]
        members: dict[bytes, int] = {}
        for key, value in asyncio.run(read_topic(kafka_broker, f"{app}-group-state-changelog",
                                                 PARTITIONS)):
            state = decode_group(value)
            seen = len(state.members)
            assert seen >= members.get(key, 0), f"group {key!r} went from {members[key]} to {seen}"
            members[key] = seen
        assert max(members.values()) >= len(hydra) / 2

        history = [Learned.decode(v) for _, v in
                   asyncio.run(read_topic(kafka_broker, f"{app}-learned-state", 1))]
        assert len(history) >= 2
        counts = [h.norms.learned.get("*", 0) for h in history]
        applied = [h.applied.get(0, -1) for h in history]
        assert counts == sorted(counts) and applied == sorted(applied), "learned state went back"
        assert history[-1].population.peers.learned > 0
        # the survivor scores with the newest learned state (or one written since the read)
        assert first.metrics()["distillguard_learned_state_offset"] >= len(history) - 1
    finally:
        sender.resume()
        sender.join()
        first.stop()
        second.stop()
