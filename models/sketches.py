"""Fixed-size summaries that keep per-account state bounded, whatever the account sends.

All are plain functions over primitive containers (bytearray, list, float) so that the profile
holding them serialises with msgspec and moves between workers as bytes.
"""

from __future__ import annotations

import math

HLL_REGISTERS = 128  # ~9% relative error on distinct counts; 128 bytes per sketch
HLL_SMALL = 32       # ~18%: enough for "how many distinct system prompts per request"
_INVERSE_POWERS = [2.0 ** -r for r in range(65)]


def hll_new(registers: int = HLL_REGISTERS) -> bytearray:
    """An empty sketch of `registers` (a power of two) one-byte registers."""
    return bytearray(registers)


def hll_add(registers: bytearray, hash64: int) -> None:
    """Add an item given by a uniformly distributed 64-bit hash. The sketch's size is its
    length, so sketches of different sizes (old and new profiles) work alike."""
    m = len(registers)
    index = hash64 & (m - 1)
    rest = hash64 >> (m.bit_length() - 1)
    rank = (65 - m.bit_length()) - rest.bit_length() + 1
    if rank > registers[index]:
        registers[index] = rank


def hll_count(registers: bytearray) -> float:
    """Estimated number of distinct items (HyperLogLog with the small-range correction)."""
    m = len(registers)
    inverse_sum = sum(map(_INVERSE_POWERS.__getitem__, registers))
    estimate = 0.7213 / (1 + 1.079 / m) * m * m / inverse_sum
    zeros = registers.count(0)
    if estimate <= 2.5 * m and zeros:
        return m * math.log(m / zeros)
    return estimate


def decay(value: float, elapsed_s: float, half_life_s: float) -> float:
    """Exponential decay of `value` over `elapsed_s` of event time."""
    if elapsed_s <= 0:
        return value
    return value * math.exp(-elapsed_s * math.log(2) / half_life_s)


def entropy(counts: list[int]) -> float:
    """Shannon entropy (nats) of a histogram, normalised to 0..1 by the number of bins."""
    total = sum(counts)
    if total == 0:
        return 0.0
    h = -sum(c / total * math.log(c / total) for c in counts if c)
    return h / math.log(len(counts))


def ring_contains(ring: bytearray, item: bytes) -> bool:
    """Is `item` one of the slots of `ring` (slots are len(item) bytes, aligned)?"""
    width = len(item)
    pos = ring.find(item)
    while pos != -1:
        if pos % width == 0:
            return True
        pos = ring.find(item, pos + 1)
    return False


def ring_put(ring: bytearray, slot: int, item: bytes) -> None:
    """Overwrite slot `slot` (0-based, modulo capacity) of a ring of len(item)-byte slots."""
    width = len(item)
    start = (slot % (len(ring) // width)) * width
    ring[start:start + width] = item
