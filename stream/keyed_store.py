"""A keyed stage's table as the engine sees it: a write-back cache over a Faust table's RocksDB
(the per-account stage's profiles, the group stage's group states).

Faust's own `table[k] = v` sends one changelog record per assignment and drops the send's
future, so a worker could commit offsets whose state never reached the broker (that, and acking
events it had not processed, is how an earlier batched attempt lost events). Here the engine
reads and writes plain values (`AccountProfile`s, `GroupState`s) in `dirty`; `flush()` encodes
each touched value ONCE into a changelog record; the checkpoint (stream/agents/checkpoint.py)
sends them, awaits the deliveries, then calls `delivered()`, which writes them to RocksDB with
their changelog offset
(so local state is never ahead of the changelog, and a restart replays only what came after).

Keys are the key's bytes (account id, link key); a key's changelog partition is the partition
its messages are routed to (murmur2 of the same bytes), so a value lives in exactly one partition.

Dormant keys: each flush also looks at a few more stored values (a cursor over the partitions)
and expires those idle for `idle_s` of event time behind the newest event seen: a tombstone in
the changelog (compaction drops them), deleted locally. A dormant account's last risk row stays
in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from faust.types import TP

SWEEP_PER_FLUSH = 200  # stored values examined for expiry per flush
EXACT_COUNT_BELOW = 10_000  # counting reads every key, on the event loop
Record = tuple[bytes, bytes | None, int]
V = TypeVar("V")


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How a store's values are encoded, and their event time (raw: without a full decode)."""

    encode: Callable[[V], bytes]
    decode: Callable[[bytes], V]
    last_ts: Callable[[V], float]
    raw_last_ts: Callable[[bytes], float]


class KeyedStore(MutableMapping[str, V]):
    def __init__(self, table, partition_of: Callable[[bytes], int], codec: Codec[V],
                 idle_s: float = 0.0) -> None:
        self.table, self.partition_of, self.codec = table, partition_of, codec
        self.topic = table.changelog_topic.get_topic_name()
        self.encode, self.decode, self.idle_s = codec.encode, codec.decode, idle_s
        self.dirty: dict[str, V] = {}
        self.newest_ts = 0.0
        self._sweep: Iterator[tuple[int, bytes, bytes]] | None = None
        self.expired = 0

    def _db(self, partition: int):
        return self.table.data._db_for_partition(partition)

    def get(self, key: str, default=None):
        value = self.dirty.get(key)
        if value is not None:
            return value
        raw_key = key.encode()
        raw = self._db(self.partition_of(raw_key)).get(raw_key)
        return default if raw is None else self.decode(raw)

    def __getitem__(self, key: str) -> V:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: V) -> None:
        self.dirty[key] = value

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("values expire through flush(), not by deletion")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        for key in self._stored_keys():
            yield key.decode()

    def __len__(self) -> int:
        """Exact below EXACT_COUNT_BELOW values; above, RocksDB's own estimate (it counts
        overwrites still in memtables too), since an exact count reads every key."""
        estimate = sum(db.property_int_value("rocksdb.estimate-num-keys") or 0
                       for db in list(self.table.data._dbs.values()))
        if estimate >= EXACT_COUNT_BELOW:
            return estimate
        return sum(1 for _ in self._stored_keys())

    def _stored_keys(self) -> Iterator[bytes]:
        offset_key = self.table.data.offset_key
        for db in list(self.table.data._dbs.values()):
            for key in db.keys():  # noqa: SIM118 (an Rdict, not a dict)
                if key != offset_key:
                    yield key

    def _stored(self) -> Iterator[tuple[int, bytes, bytes]]:
        offset_key = self.table.data.offset_key
        for partition, db in list(self.table.data._dbs.items()):
            for key, raw in db.items():
                if key != offset_key:
                    yield partition, key, raw

    def flush(self) -> list[Record]:
        """Every touched value once, plus tombstones of dormant ones: (key, value, partition)."""
        records: list[Record] = []
        last_ts = self.codec.last_ts
        for name, value in self.dirty.items():
            key = name.encode()
            self.newest_ts = max(self.newest_ts, last_ts(value))
            records.append((key, self.encode(value), self.partition_of(key)))
        if self.idle_s > 0:
            records += self._dormant()
        return records

    def delivered(self, records: list[Record], results) -> None:
        """The records are on the broker: write them locally, then their changelog offsets."""
        for key, raw, partition in records:
            db = self._db(partition)
            if raw is None:
                db.delete(key)
            else:
                db.put(key, raw)
        store = self.table.data
        offsets: dict[TP, int] = {}
        for meta in results:
            tp = TP(meta.topic, meta.partition)
            offsets[tp] = max(meta.offset, offsets.get(tp, -1))
        for tp, offset in offsets.items():
            store.set_persisted_offset(tp, offset)
        self.dirty.clear()

    def _dormant(self) -> list[Record]:
        horizon = self.newest_ts - self.idle_s
        out: list[Record] = []
        for _ in range(SWEEP_PER_FLUSH):
            if self._sweep is None:
                self._sweep = self._stored()
            try:
                partition, key, raw = next(self._sweep)
            except Exception:  # StopIteration at the end, or a partition closed by a rebalance
                self._sweep = None
                break
            if self.codec.raw_last_ts(raw) < horizon and key.decode() not in self.dirty:
                out.append((key, None, partition))
        self.expired += len(out)
        return out
