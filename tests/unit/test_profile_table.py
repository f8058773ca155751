"""The write-back profile store: str account ids in, bytes keys in RocksDB-like partitions; each
touched profile becomes ONE changelog record per flush, and reaches the local store only once
the checkpoint says it was delivered; dormant profiles become tombstones."""

from types import SimpleNamespace

from distillguard.models.profile import AccountProfile, profile_decoder
from distillguard.stream.agents.rekey import Partitioner, partition_for
from distillguard.stream.codecs import PROFILES
from distillguard.stream.keyed_store import KeyedStore


class FakeDB(dict):
    def put(self, key, value):
        self[key] = value

    def delete(self, key):
        del self[key]

    def property_int_value(self, name):
        return len(self)


class FakeRocksStore:
    offset_key = b"__offset__"

    def __init__(self):
        self._dbs: dict[int, FakeDB] = {}
        self.offsets = {}

    def _db_for_partition(self, partition):
        return self._dbs.setdefault(partition, FakeDB())

    def set_persisted_offset(self, tp, offset):
        self.offsets[tp] = offset


def store(idle_s=0.0):
    table = SimpleNamespace(data=FakeRocksStore(),
                            changelog_topic=SimpleNamespace(get_topic_name=lambda: "cl"))
    return table.data, KeyedStore(table, Partitioner(4), PROFILES, idle_s=idle_s)


def delivered(profiles, records):
    meta = [SimpleNamespace(topic="cl", partition=p, offset=i) for i, (_, _, p) in enumerate(records)]
    profiles.delivered(records, meta)


def test_one_record_per_touched_profile_and_local_write_only_after_delivery():
    rocks, view = store()
    for _ in range(3):
        p = view.get("a") or AccountProfile("a")
        p.events += 1
        view["a"] = p
    records = view.flush()
    assert len(records) == 1
    key, raw, partition = records[0]
    assert key == b"a" and partition == partition_for(b"a", 4)
    assert profile_decoder.decode(raw).events == 3
    assert rocks._db_for_partition(partition).get(b"a") is None  # not before delivery
    assert view.get("a").events == 3  # still readable from the write-back cache
    delivered(view, records)
    assert rocks._db_for_partition(partition)[b"a"] == raw
    assert rocks.offsets == {("cl", partition): 0}
    assert view.flush() == []  # nothing touched since
    assert view.get("a").events == 3  # read back from the store
    assert "a" in view and "b" not in view and list(view) == ["a"] and len(view) == 1
    assert view.get("b") is None


def test_dormant_profiles_expire_as_tombstones():
    _, view = store(idle_s=100.0)
    old, new = AccountProfile("old", events=1, last_ts=1000.0), AccountProfile("new", events=1,
                                                                              last_ts=1050.0)
    view["old"], view["new"] = old, new
    delivered(view, view.flush())
    view["new"] = AccountProfile("new", events=2, last_ts=1200.0)
    records = view.flush()
    assert (b"old", None, partition_for(b"old", 4)) in records
    assert all(k != b"new" or v is not None for k, v, _ in records)
    delivered(view, records)
    assert view.get("old") is None and view.get("new").events == 2
