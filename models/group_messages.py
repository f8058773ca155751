"""The two records that travel between the per-account and the group stage (models/groups.py):
a member's summary, sent to each of its link keys, and a group's verdict, sent back to a member.
Derived numbers only: no prompt text, no raw link values."""

from __future__ import annotations

import msgspec


class MemberSummary(msgspec.Struct, array_like=True):
    """What one account publishes to each of its link keys (derived numbers, no text)."""

    account_id: str
    ts: float            # event time of the account's latest event
    events: int          # requests the account has sent
    risk: float          # the account's own risk 0-100, without any group contribution
    extraction: float    # 0..1: how extraction-like its behaviour is (features.extraction_level)
    first_ts: float = 0.0
    created_ts: float | None = None


class GroupVerdict(msgspec.Struct, array_like=True):
    """Group risk published back to one member (re-keyed by account_id); the numbers behind
    it, so a member keeps a few of them in its profile and words them when it is scored."""

    account_id: str
    group: str           # "kind:hash" of the link key (models.groups.group_of)
    risk: float          # 0-100 contribution of this group to the member
    size: int            # members in the group (estimate)
    merged: float        # events-weighted extraction of the members
    events: int          # requests of the members held
    extractive: int      # extraction-like members (scaled to size)
    benign: int          # ordinary-looking members (scaled to size)
    ts: float
    share: float = 1.0   # the part of the group's risk this member carries (linked, not proven)
