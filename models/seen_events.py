"""Exact de-duplication of event ids, outside the account profile.

The contract says one `event_id` is one request, so a producer retry or a replay carries the
same id AND the same event time. Ids are therefore kept per bucket of event time
(`bucket_s`, an hour by default) and per account, as full strings: a distinct event is never
taken for a duplicate (no hashing, no false positives). Buckets older than `window_s` of event
time behind the newest event seen are forgotten: a copy arriving with an event time older than
that is counted again (window: `window_s` of event time, any number of events within it).

This is the in-memory form (file replay); the Kafka worker keeps the same keys in a
changelogged RocksDB table (stream/seen_table.py).
"""

from __future__ import annotations

BUCKET_S = 3600.0
WINDOW_S = 2 * 86400.0


class SeenEvents:
    def __init__(self, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> None:
        self.window_s, self.bucket_s = window_s, bucket_s
        self.buckets: dict[int, dict[str, set[str]]] = {}
        self.newest = 0  # newest bucket seen

    def seen(self, account_id: str, event_id: str, ts: float) -> bool:
        """Was this id seen for this account? Records it if not."""
        bucket = int(ts // self.bucket_s)
        accounts = self.buckets.get(bucket)  # not setdefault: it builds a new default every call
        if accounts is None:
            accounts = self.buckets[bucket] = {}
        ids = accounts.get(account_id)
        if ids is None:
            ids = accounts[account_id] = set()
        if event_id in ids:
            return True
        ids.add(event_id)
        if bucket > self.newest:
            self.newest = bucket
            self._expire()
        return False

    @property
    def oldest(self) -> int:
        return self.newest - int(self.window_s // self.bucket_s)

    def _expire(self) -> None:
        for bucket in [b for b in self.buckets if b < self.oldest]:
            del self.buckets[bucket]

    def __len__(self) -> int:
        return sum(len(ids) for accounts in self.buckets.values() for ids in accounts.values())
