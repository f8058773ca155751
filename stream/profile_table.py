"""The profiles table as the engine sees it: account ids as str, the Faust table keyed by bytes.

Keys are the account id's bytes and the table uses Kafka's partitioner on them, so an account's
changelog partition is the partition its events are routed to (murmur2 of the same bytes).

Writes go straight through (`table[k] = v` on every event, as Faust requires). We tried writing
each touched profile once per batch or per commit for speed (2-5x); with faust-streaming
0.15.3 both lost events in our SIGKILL restart test (take_events() acked events it never
yielded; commit-time flushing let offsets run ahead of the changelog), so correctness won.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from distillguard.models.profile import AccountProfile


class ProfileTable(MutableMapping[str, AccountProfile]):
    def __init__(self, table: MutableMapping[bytes, AccountProfile]) -> None:
        self.table = table

    def __getitem__(self, account_id: str) -> AccountProfile:
        profile = self.table.get(account_id.encode())
        if profile is None:
            raise KeyError(account_id)
        return profile

    def get(self, account_id: str, default=None):
        profile = self.table.get(account_id.encode())
        return default if profile is None else profile

    def __setitem__(self, account_id: str, profile: AccountProfile) -> None:
        self.table[account_id.encode()] = profile

    def __delitem__(self, account_id: str) -> None:
        del self.table[account_id.encode()]

    def __contains__(self, account_id: object) -> bool:
        return isinstance(account_id, str) and account_id.encode() in self.table

    def __iter__(self) -> Iterator[str]:
        for key in self.table:
            yield key.decode() if isinstance(key, bytes) else key

    def __len__(self) -> int:
        return len(self.table)
