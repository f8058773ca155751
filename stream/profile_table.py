"""A write-back view of the Faust profiles table: the engine reads and writes profiles as often
as it likes; each touched profile goes to the table (and so to its changelog) once per batch.

Why: a profile is ~6 KiB and the engine reassigns it on every event. Writing each of those to
the changelog capped the worker at ~2k events/s. Batching keeps at-least-once intact: Faust
acks a batch's events only after the agent has processed it (and flushed here), and it flushes
the changelog before it commits their offsets.

Keys are the account id as bytes, and the table uses Kafka's partitioner on them: an account's
changelog partition is then the partition its events are routed to (murmur2 of the same bytes).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from models.profile import AccountProfile


class WriteBackProfiles(MutableMapping[str, AccountProfile]):
    def __init__(self, table: MutableMapping[bytes, AccountProfile]) -> None:
        self.table = table
        self.dirty: dict[str, AccountProfile] = {}

    def __getitem__(self, account_id: str) -> AccountProfile:
        profile = self.dirty.get(account_id)
        if profile is not None:
            return profile
        profile = self.table.get(account_id.encode())
        if profile is None:
            raise KeyError(account_id)
        return profile

    def get(self, account_id: str, default=None):
        try:
            return self[account_id]
        except KeyError:
            return default

    def __setitem__(self, account_id: str, profile: AccountProfile) -> None:
        self.dirty[account_id] = profile

    def __delitem__(self, account_id: str) -> None:
        self.dirty.pop(account_id, None)
        del self.table[account_id.encode()]

    def __contains__(self, account_id: object) -> bool:
        return isinstance(account_id, str) and (
            account_id in self.dirty or account_id.encode() in self.table)

    def __iter__(self) -> Iterator[str]:
        seen = set(self.dirty)
        yield from self.dirty
        for key in self.table:
            account_id = key.decode() if isinstance(key, bytes) else key
            if account_id not in seen:
                yield account_id

    def __len__(self) -> int:
        return len(self.table) + sum(1 for a in self.dirty if a.encode() not in self.table)

    def flush(self) -> int:
        """Write every profile touched since the last flush to the table, once each."""
        for account_id, profile in self.dirty.items():
            self.table[account_id.encode()] = profile
        n = len(self.dirty)
        self.dirty.clear()
        return n
