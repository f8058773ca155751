"""Hydra campaigns: many accounts, one actor. Link accounts that share a payment instrument or a
proxy range with the same client, score each linked group as one merged profile, and let members
carry the group's risk.

Bounded: at most `max_accounts` accounts are indexed (least recently scored are forgotten), a
key shared by more than `max_key_members` accounts is too generic to link on (a big NAT or
cloud range), and a cluster walk stops at `max_cluster` accounts.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from distillguard.models.profile import AccountProfile, Moments

PAYMENT, NETWORK = "pay", "net"


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    members: tuple[str, ...]
    shared: str        # what links them, in words
    events: int


def link_keys(p: AccountProfile) -> list[str]:
    keys = [f"{PAYMENT}:{p.payment_fingerprint}"] if p.payment_fingerprint else []
    return keys + [f"{NETWORK}:{client}" for client in p.network_clients]


class ClusterIndex:
    def __init__(self, max_accounts: int = 200_000, max_key_members: int = 2_000,
                 max_cluster: int = 500) -> None:
        self.max_accounts, self.max_key_members, self.max_cluster = (
            max_accounts, max_key_members, max_cluster)
        self.keys_of: OrderedDict[str, list[str]] = OrderedDict()
        self.members_of: dict[str, set[str]] = {}
        self.version = 0  # bumped on any change of who shares what: cached walks are stale
        self._walks: dict[str, tuple[int, tuple[str, ...], str]] = {}

    def link(self, p: AccountProfile) -> None:
        new = link_keys(p)
        old = self.keys_of.pop(p.account_id, [])
        if new != old:
            self.version += 1
        for key in set(old) - set(new):
            self._drop(key, p.account_id)
        for key in new:
            self.members_of.setdefault(key, set()).add(p.account_id)
        self.keys_of[p.account_id] = new
        while len(self.keys_of) > self.max_accounts:
            gone, keys = self.keys_of.popitem(last=False)
            self._walks.pop(gone, None)
            self.version += 1
            for key in keys:
                self._drop(key, gone)

    def _drop(self, key: str, account: str) -> None:
        members = self.members_of.get(key)
        if members is not None:
            members.discard(account)
            if not members:
                del self.members_of[key]

    def cluster_of(self, account: str, profiles: Mapping[str, AccountProfile]) -> Cluster | None:
        """The accounts reachable from `account` over shared keys; None when it stands alone."""
        cached = self._walks.get(account)
        if cached is not None and cached[0] == self.version:
            _, members, shared = cached
        else:
            members, shared = self._walk(account)
            self._walks[account] = (self.version, members, shared)
        if len(members) < 2:
            return None
        events = sum(profiles[m].events for m in members if m in profiles)
        cluster_id = hashlib.sha256(members[0].encode()).hexdigest()[:16]
        return Cluster(cluster_id, members, shared, events)

    def _walk(self, account: str) -> tuple[tuple[str, ...], str]:
        seen, frontier, via = {account}, [account], set()
        while frontier and len(seen) < self.max_cluster:
            current = frontier.pop()
            for key in self.keys_of.get(current, ()):
                members = self.members_of.get(key, ())
                if len(members) < 2 or len(members) > self.max_key_members:
                    continue
                via.add(key)
                for other in members:
                    if other not in seen:
                        seen.add(other)
                        frontier.append(other)
        return tuple(sorted(seen)), _describe(via)


def _describe(keys: set[str]) -> str:
    payments = sorted(k for k in keys if k.startswith(PAYMENT))
    networks = sorted(k for k in keys if k.startswith(NETWORK))
    parts = []
    if payments:
        parts.append(f"{len(payments)} payment instrument{'s' * (len(payments) > 1)} "
                     f"({', '.join(k[4:12] + '…' for k in payments[:2])})")
    if networks:
        ranges = sorted({k[4:].split("|")[0] for k in networks})
        parts.append(f"proxy range{'s' * (len(ranges) > 1)} {', '.join(ranges[:2])}"
                     " with the same client")
    return " and ".join(parts)


def merge_profiles(account_id: str, members: list[AccountProfile]) -> AccountProfile:
    """One profile for the whole group: counts add up, sketches union, moments combine."""
    merged = AccountProfile(account_id)
    counters = [name for name in AccountProfile.__struct_fields__
                if isinstance(getattr(merged, name), int) and not isinstance(
                    getattr(merged, name), bool) and name not in (
                    "minute", "minute_count", "minute_max", "reasoning_languages",
                    "scored_at_events")]
    for p in members:
        for name in counters:
            setattr(merged, name, getattr(merged, name) + getattr(p, name))
        for name in ("distinct_prompts", "distinct_systems"):
            target = getattr(merged, name)
            for i, r in enumerate(getattr(p, name)):
                if r > target[i]:
                    target[i] = r
        for name in ("gaps", "output_len", "prompt_chars", "minute_counts"):
            setattr(merged, name, _combine(getattr(merged, name), getattr(p, name)))
        merged.hours = [a + b for a, b in zip(merged.hours, p.hours, strict=True)]
        merged.reasoning_languages |= p.reasoning_languages
        merged.minute_max = max(merged.minute_max, p.minute_max)
        merged.rate_mass += p.rate_mass
    total = max(merged.events, 1)
    merged.recent = [sum(p.recent[i] * p.events for p in members) / total for i in range(6)]
    merged.first_ts = min(p.first_ts for p in members)
    merged.last_ts = max(p.last_ts for p in members)
    created = [p.created_ts for p in members if p.created_ts is not None]
    merged.created_ts = sorted(created)[len(created) // 2] if created else None
    return merged


def _combine(a: Moments, b: Moments) -> Moments:
    """Chan et al. parallel merge of two Welford accumulators."""
    n = a.n + b.n
    if n == 0:
        return Moments()
    delta = b.mean - a.mean
    return Moments(n, a.mean + delta * b.n / n, a.m2 + b.m2 + delta * delta * a.n * b.n / n)


class ClusterScorer:
    """Caches each cluster's risk; rescored when its members' events grew by 10% or more."""

    def __init__(self, score_profile: Callable[[AccountProfile], tuple[float, list]]) -> None:
        self.score_profile = score_profile
        self.cache: OrderedDict[str, tuple[int, float, list]] = OrderedDict()

    def risk(self, cluster: Cluster, profiles: Mapping[str, AccountProfile]) -> tuple[float, list]:
        cached = self.cache.get(cluster.cluster_id)
        if cached is not None and cluster.events < cached[0] * 1.1:
            return cached[1], cached[2]
        members = [profiles[m] for m in cluster.members if m in profiles]
        risk, reasons = self.score_profile(merge_profiles(cluster.cluster_id, members))
        self.cache[cluster.cluster_id] = (cluster.events, risk, reasons)
        self.cache.move_to_end(cluster.cluster_id)
        while len(self.cache) > 50_000:
            self.cache.popitem(last=False)
        return risk, reasons

