"""Faust codecs: profiles travel through the table changelog as compact msgpack."""

from __future__ import annotations

from typing import Any

from distillguard.models.profile import AccountProfile, profile_decoder, profile_encoder
from faust.serializers import codecs


class ProfileCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return profile_encoder.encode(obj)

    def _loads(self, s: bytes) -> AccountProfile:
        return profile_decoder.decode(s)


PROFILE_CODEC = "distillguard-profile"
codecs.register(PROFILE_CODEC, ProfileCodec())
