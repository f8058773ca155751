"""How the keyed stages' values are stored in their tables and changelogs: msgpack arrays,
with a head decoder that reads only the event time (the dormant sweep looks at many values)."""

from __future__ import annotations

import msgspec
from distillguard.models.groups import GroupState
from distillguard.models.profile import AccountProfile, profile_decoder, profile_encoder
from distillguard.stream.keyed_store import Codec


class _ProfileHead(msgspec.Struct, array_like=True):
    """The first fields of an encoded profile: enough to tell whether it is dormant."""

    account_id: str
    events: int
    duplicates: int
    first_ts: float
    last_ts: float


class _GroupHead(msgspec.Struct, array_like=True):
    ts: float


_profile_head = msgspec.msgpack.Decoder(_ProfileHead).decode
_group_head = msgspec.msgpack.Decoder(_GroupHead).decode
_group_encode = msgspec.msgpack.Encoder().encode
_group_decode = msgspec.msgpack.Decoder(GroupState).decode

PROFILES: Codec[AccountProfile] = Codec(profile_encoder.encode, profile_decoder.decode,
                                        lambda p: p.last_ts, lambda raw: _profile_head(raw).last_ts)
GROUPS: Codec[GroupState] = Codec(_group_encode, _group_decode, lambda g: g.ts,
                                  lambda raw: _group_head(raw).ts)
