"""The seen-events table: the engine's event-id de-duplication, durable, on disk, and outside
the profile record.

One `event_id` is one request (the contract), so a producer retry or a replay carries the same
id AND the same event time: ids are kept per account and bucket of event time, as full strings
(exact: a distinct event is never taken for a duplicate). Buckets older than `window_s` of event
time behind the newest event this worker saw are deleted (one range delete per bucket): a copy
arriving later than that is counted again. Window: `window_s` of event time (default 48 h),
any number of events within it.

Locally: one RocksDB per partition (Faust's `rocksdb://` store of this table), key
`bucket | account | event id`. Changelog: once per batch, one record per (bucket, partition)
with the (account, id) pairs first seen in the batch, key `[bucket, first account, first id]`
(unique, so a re-send after a crash replaces itself); the topic deletes by time
(`window + a day`) instead of compacting. Recovery replays it from the offset RocksDB holds.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import timedelta

import faust
import msgspec
import rocksdict
from distillguard.models.seen_events import BUCKET_S, WINDOW_S
from faust.types import TP

_encode = msgspec.msgpack.Encoder().encode
_key = msgspec.msgpack.Decoder(tuple[int, str, str]).decode
_pairs = msgspec.msgpack.Decoder(list[tuple[str, str]]).decode


def id_key(bucket: int, account: bytes, event_id: str) -> bytes:
    return struct.pack(">IH", bucket, len(account)) + account + event_id.encode()


class SeenTable(faust.Table):
    """A Faust table whose changelog records are groups of ids: recovery writes each id."""

    def apply_changelog_batch(self, batch) -> None:
        writes: dict[int, rocksdict.WriteBatch] = {}
        offsets: dict[TP, int] = {}
        for event in batch:
            msg = event.message
            offsets[msg.tp] = max(msg.offset, offsets.get(msg.tp, -1))
            if msg.value is None:
                continue
            bucket, _, _ = _key(msg.key)
            wb = writes.setdefault(msg.partition, rocksdict.WriteBatch(raw_mode=True))
            for account_id, event_id in _pairs(msg.value):
                wb.put(id_key(bucket, account_id.encode(), event_id), b"")
        for partition, wb in writes.items():
            self.data._db_for_partition(partition).write(wb)
        for tp, offset in offsets.items():
            self.data.set_persisted_offset(tp, offset)


class SeenEvents:
    """`models.seen_events.SeenEvents`' contract (`seen`) over the seen table's RocksDB, plus
    the checkpoint's state protocol (`topic`, `flush`, `delivered`)."""

    def __init__(self, table: SeenTable, partition_of: Callable[[bytes], int],
                 window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> None:
        self.table, self.partition_of = table, partition_of
        self.topic = table.changelog_topic.get_topic_name()
        self.window_s, self.bucket_s = window_s, bucket_s
        self.newest = 0                              # newest bucket seen
        self.expired_below = 0
        self.new: dict[tuple[int, int], list[tuple[str, str]]] = {}  # learned in this batch
        self.batch_keys: dict[bytes, int] = {}  # id key -> partition, learned in this batch

    def seen(self, account_id: str, event_id: str, ts: float) -> bool:
        bucket = int(ts // self.bucket_s)
        account = account_id.encode()
        key = id_key(bucket, account, event_id)
        if key in self.batch_keys:
            return True
        partition = self.partition_of(account)
        if self.table.data._db_for_partition(partition).get(key) is not None:
            return True
        self.batch_keys[key] = partition
        self.new.setdefault((bucket, partition), []).append((account_id, event_id))
        if bucket > self.newest:
            self.newest = bucket
        return False

    def flush(self) -> list[tuple[bytes, bytes, int]]:
        """This batch's new ids as changelog records (key, value, partition)."""
        return [(_encode((bucket, *pairs[0])), _encode(pairs), partition)
                for (bucket, partition), pairs in self.new.items()]

    def delivered(self, records, results) -> None:
        """The records are on the broker: write the ids locally, then their offset."""
        writes: dict[int, rocksdict.WriteBatch] = {}
        for key, partition in self.batch_keys.items():
            writes.setdefault(partition, rocksdict.WriteBatch(raw_mode=True)).put(key, b"")
        store = self.table.data
        for partition, wb in writes.items():
            store._db_for_partition(partition).write(wb)
        for tp, offset in last_offsets(results).items():
            store.set_persisted_offset(tp, offset)
        self.new.clear()
        self.batch_keys.clear()
        self._expire()

    def _expire(self) -> None:
        oldest = self.newest - int(self.window_s // self.bucket_s)
        if oldest <= self.expired_below:
            return
        for db in list(self.table.data._dbs.values()):
            db.delete_range(struct.pack(">I", self.expired_below), struct.pack(">I", oldest))
        self.expired_below = oldest


def last_offsets(results) -> dict[TP, int]:
    """The highest offset written per partition, from the producer's record metadata."""
    offsets: dict[TP, int] = {}
    for meta in results:
        tp = TP(meta.topic, meta.partition)
        offsets[tp] = max(meta.offset, offsets.get(tp, -1))
    return offsets


def seen_table(app: faust.App, partitions: int, window_s: float, options: dict) -> SeenTable:
    topic = app.topic(f"{app.conf.id}-seen-events-changelog", partitions=partitions,
                      compacting=False, deleting=True, internal=True,
                      retention=timedelta(seconds=window_s + 86400),
                      key_serializer="raw", value_serializer="raw")
    table = SeenTable(app, name="seen-events", default=None, partitions=partitions,
                      changelog_topic=topic, key_type=bytes, value_type=bytes,
                      use_partitioner=True, options=dict(options))
    table.key_serializer = table.value_serializer = "raw"
    app.tables.add(table)
    return table
