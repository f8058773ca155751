"""Where an account's events meet: the partition its id hashes to (Kafka's murmur2).

An event whose producer did not key it by `account_id` (or keyed it with another partitioner)
is re-keyed: sent to the internal by-account topic on the right partition, where the same
per-account stage picks it up, with its prompt text already reduced to derived signals.
"""

from __future__ import annotations

import msgspec
from aiokafka.partitioner import murmur2
from distillguard.models.event import Event
from distillguard.models.simhash import prompt_sha256, simhash64
from distillguard.models.text_signals import derive

_encode = msgspec.json.Encoder().encode
CACHE_KEYS = 200_000  # murmur2 is pure Python: remember recent accounts' partitions


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default (murmur2) partitioner, as Java, aiokafka and kafka-python clients use."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Partitioner:
    """`partition_for` with a bounded cache: each account's hash is computed about once."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._cache: dict[bytes, int] = {}

    def __call__(self, key: bytes) -> int:
        partition = self._cache.get(key)
        if partition is None:
            if len(self._cache) >= CACHE_KEYS:
                self._cache.clear()
            partition = self._cache[key] = partition_for(key, self.partitions)
        return partition


def needs_rekey(event: Event, message, partition_of: Partitioner) -> bool:
    """True when this message is not on the partition that owns the event's account."""
    key = event.account_id.encode()
    return message.key != key or message.partition != partition_of(key)


def encode_rekeyed(event: Event) -> bytes:
    """The event as JSON for the by-account topic, its prompt text replaced by what is derived
    from it (hash, simhash, length and `TextSignals`): no prompt text on internal topics."""
    prompt = event.prompt
    if prompt is None or not prompt.text:
        return _encode(event)
    text = prompt.text
    derived = msgspec.structs.replace(
        prompt, text=None, signals=derive(text),
        sha256=prompt.sha256 or prompt_sha256(text),
        simhash=prompt.simhash or f"{simhash64(text):016x}",
        chars=prompt.chars if prompt.chars is not None else len(text))
    return _encode(msgspec.structs.replace(event, prompt=derived))
