"""merge_groups: the group stage, keyed by link key (a payment instrument, a network and client,
a system prompt, a start wave, a registration burst, a prompt template band).

Its input is what the per-account stage publishes when it scores an account: one
(link key, member summary) record per link key, keyed by the link key, so all members of one
group meet on one partition. Each group's merged evidence (`models.groups.GroupState`) lives in
its own changelogged RocksDB table; the verdicts go back to the members, keyed by account id,
on the group-verdicts topic (co-partitioned with the input). Same checkpoint as every stage:
group states and verdicts flushed, then the batch acked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec
from distillguard.models.group_messages import MemberSummary
from distillguard.models.groups import GroupState, fold, verdicts
from distillguard.stream.agents.rekey import Partitioner
from distillguard.stream.agents.stage import BatchStage
from distillguard.stream.batches.sink import BatchSink
from distillguard.stream.keyed_store import KeyedStore
from distillguard.stream.topics import TopicNames

log = logging.getLogger(__name__)
_decode_link = msgspec.msgpack.Decoder(tuple[str, MemberSummary]).decode
_encode = msgspec.msgpack.Encoder().encode


@dataclass(kw_only=True)
class GroupStage(BatchStage):
    groups: KeyedStore[GroupState]
    partition_of: Partitioner
    names: TopicNames


async def merge_groups(stage: GroupStage, sink: BatchSink) -> None:
    send, groups, partition_of = stage.checkpoint.send, stage.groups, stage.partition_of
    topic = stage.names.group_verdicts

    def handle(record):
        try:
            link_key, summary = _decode_link(record.value)
        except (msgspec.DecodeError, TypeError) as err:  # only we write it, but never crash
            log.error("skipping an undecodable group link at %s[%d]@%d: %s", record.topic,
                      record.partition, record.offset, err)
            return None
        state = fold(groups.get(link_key), link_key, summary)
        groups[link_key] = state
        sends = []
        for verdict in verdicts(state, link_key):
            key = verdict.account_id.encode()
            sends.append(send(topic, key, _encode(verdict), partition_of(key)))
        return _all(sends) if sends else None

    await stage.run_batches(sink, {stage.names.group_links: handle})


async def _all(sends) -> None:
    for pending in sends:
        await pending
