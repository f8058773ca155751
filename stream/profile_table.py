"""The profiles table as the engine sees it: a write-back cache over a Faust table's store.

Faust's own `table[k] = v` sends one changelog record per assignment and drops the send's
future, so a worker could commit offsets whose state never reached the broker (that, and acking
events it had not processed, is how an earlier batched attempt lost events). Here the engine
reads and writes plain `AccountProfile`s in `dirty`; `flush()` encodes each touched profile ONCE,
writes it to the local store and returns the changelog records, which the caller
(stream/agents/checkpoint.py) sends and awaits before it acks the batch's input events.

Keys are the account id's bytes; an account's changelog partition is the partition its events
are routed to (murmur2 of the same bytes), so a profile lives in exactly one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

from distillguard.models.profile import AccountProfile


class MemoryBackend:
    """Faust's `memory://` store, written directly (no changelog send of its own)."""

    def __init__(self, store) -> None:
        self.store = store  # faust.stores.memory.Store

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.store.data.get(key)

    def put(self, key: bytes, raw: bytes, partition: int) -> None:
        self.store.data[key] = raw
        self.store._key_partition[key] = partition  # so a revoked partition's keys are freed

    def iter_keys(self) -> Iterator[bytes]:
        return iter(list(self.store.data))

    def __len__(self) -> int:
        return len(self.store.data)


class ProfileStore(MutableMapping[str, AccountProfile]):
    def __init__(self, backend, partition_of: Callable[[bytes], int],
                 encode: Callable[[AccountProfile], bytes],
                 decode: Callable[[bytes], AccountProfile]) -> None:
        self.backend, self.partition_of = backend, partition_of
        self.encode, self.decode = encode, decode
        self.dirty: dict[str, AccountProfile] = {}

    def get(self, account_id: str, default=None):
        profile = self.dirty.get(account_id)
        if profile is not None:
            return profile
        key = account_id.encode()
        raw = self.backend.get(key, self.partition_of(key))
        return default if raw is None else self.decode(raw)

    def __getitem__(self, account_id: str) -> AccountProfile:
        profile = self.get(account_id)
        if profile is None:
            raise KeyError(account_id)
        return profile

    def __setitem__(self, account_id: str, profile: AccountProfile) -> None:
        self.dirty[account_id] = profile

    def __delitem__(self, account_id: str) -> None:
        raise NotImplementedError("profiles expire through the changelog, not by deletion here")

    def __contains__(self, account_id: object) -> bool:
        return isinstance(account_id, str) and self.get(account_id) is not None

    def __iter__(self) -> Iterator[str]:
        for key in self.backend.iter_keys():
            yield key.decode()

    def __len__(self) -> int:
        return len(self.backend)

    def flush(self) -> list[tuple[bytes, bytes, int]]:
        """Write every touched profile once; return its changelog records (key, value, partition)."""
        records = []
        for account_id, profile in self.dirty.items():
            key = account_id.encode()
            raw, partition = self.encode(profile), self.partition_of(key)
            self.backend.put(key, raw, partition)
            records.append((key, raw, partition))
        self.dirty.clear()
        return records
