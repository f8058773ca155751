"""The access-log event of the contract (../shared/contract/access-log-event.md), as typed data.

The constraints live in the types so that one decode both parses and validates; `stream.intake`
adds the checks a type cannot express (timestamp format, IP address, future events).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from distillguard.models.text_signals import TextSignals

# Upper bounds keep every value encodable wherever it goes: the profile folds counts into
# running sums that travel as msgpack (at most 2**64 - 1), so one request may carry at most
# MAX_COUNT (no real request has two billion tokens; an account needs 2**33 such requests
# before a sum could overflow). `seed` is a signed 64-bit integer, as the providers define it.
MAX_COUNT = 2**31 - 1
MAX_ASN = 2**32 - 1

Id128 = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Str128 = Annotated[str, msgspec.Meta(max_length=128)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]
Hex16 = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{16}$")]
Timestamp = str | int  # RFC 3339 with an offset, or epoch milliseconds


class Params(msgspec.Struct, omit_defaults=True):
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: NonNegInt | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    logit_bias: NonNegInt | None = None
    stream: bool | None = None
    seed: Int64 | None = None
    tools: NonNegInt | None = None
    response_format: str | None = None


class Prompt(msgspec.Struct, omit_defaults=True):
    text: str | None = None
    # Derived from `text` by the worker that re-keyed the event, which then drops the text
    # (internal topics carry no prompt text). Never taken from producers: intake clears it.
    signals: TextSignals | None = None
    sha256: Hex64 | None = None
    simhash: Hex16 | None = None
    chars: NonNegInt | None = None
    messages: NonNegInt | None = None
    system_sha256: Hex64 | None = None


class Event(msgspec.Struct, omit_defaults=True):
    """One API request. `ts` (epoch seconds, event time) is filled in by intake validation."""

    event_id: Id128
    timestamp: Timestamp
    account_id: Id128
    api_key_id: Str128 | None = None
    user_id: Str128 | None = None
    source_ip: str | None = None
    asn: Annotated[int, msgspec.Meta(ge=0, le=MAX_ASN)] | None = None
    country: Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{2}$")] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    endpoint: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    model: Str128 | None = None
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    latency_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    input_tokens: NonNegInt | None = None
    output_tokens: NonNegInt | None = None
    reasoning_tokens: NonNegInt | None = None
    finish_reason: str | None = None
    params: Params | None = None
    prompt: Prompt | None = None
    payment_fingerprint: Str128 | None = None
    account_created_at: Timestamp | None = None
    ts: float = 0.0
    created_ts: float | None = None
