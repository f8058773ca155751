"""64-bit SimHash of prompt text: the contract's `prompt.simhash`, for producers that send text only.

Tokenisation: lower-cased words and word bigrams. Any fixed tokenisation works as long as it is
the same within a deployment (the contract says so), because only Hamming distances are used.
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_BIT_WEIGHTS = (1 << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def _h64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def simhash64(text: str) -> int:
    words = _WORD.findall(text.lower())
    tokens = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if not tokens:
        return 0
    hashes = np.array([_h64(t) for t in tokens], dtype=np.uint64)
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(tokens)
    return int(_BIT_WEIGHTS[votes > 0].sum())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def prompt_sha256(text: str) -> str:
    """The contract's `prompt.sha256`: of the prompt with whitespace runs collapsed. The engine
    counts a text-only prompt by this same hash, so text and edge-computed hashes count alike."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
