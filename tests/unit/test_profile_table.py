"""The write-back profile store: str account ids in, bytes keys in the Faust store; each touched
profile is written (and its changelog record returned) once per flush, not once per event."""

from types import SimpleNamespace

from distillguard.models.profile import AccountProfile, profile_decoder, profile_encoder
from distillguard.stream.agents.rekey import Partitioner, partition_for
from distillguard.stream.profile_table import MemoryBackend, ProfileStore


class CountingStore(dict):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)


def store():
    faust_store = SimpleNamespace(data=CountingStore(), _key_partition={})
    profiles = ProfileStore(MemoryBackend(faust_store), Partitioner(4), profile_encoder.encode,
                            profile_decoder.decode)
    return faust_store, profiles


def test_one_write_per_touched_profile_per_flush():
    faust_store, view = store()
    for _ in range(3):
        p = view.get("a") or AccountProfile("a")
        p.events += 1
        view["a"] = p
    assert faust_store.data.writes == 0  # nothing reaches the store before the flush
    records = view.flush()
    assert faust_store.data.writes == 1 and len(records) == 1
    key, raw, partition = records[0]
    assert key == b"a" and partition == partition_for(b"a", 4) == faust_store._key_partition[b"a"]
    assert profile_decoder.decode(raw).events == 3
    assert view.flush() == []  # nothing touched since
    assert view.get("a").events == 3  # read back from the store after the flush
    assert "a" in view and "b" not in view and list(view) == ["a"] and len(view) == 1
    assert view.get("b") is None
