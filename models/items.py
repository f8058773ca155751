"""Prompts sent by more than one account: a bounded, population-level sketch of prompt hashes.

A benchmark harness walks a fixed public item set (lm-eval-harness in the set's order, `--limit`
taking its first items; simple-evals and HELM a sample drawn with a fixed seed, the same for
everyone), so the prompts of every account running the same benchmark with the same template are
byte-identical; a harvest sweeps prompts that nobody else sends, or public prompts mixed with its
own. Whether *another* account sent a prompt before is read per request (`seen_elsewhere`), and
the sketch learns every request (`add`, through the engine's `Learner`).

Only hashes are kept, never text: 40 bits of each prompt's hash (16 choose its bucket, 24 are its
fingerprint) and 12-bit tags of the first two accounts that sent it. Bounded: BUCKETS buckets of
WAYS entries, one unsigned 64-bit word each (256 KiB):

    bits  0-23  fingerprint        bits 48-49  accounts that sent it: 1, 2, 3 (three or more)
    bits 24-35  first account tag  bits 50-63  clock when last sent (inserts >> CLOCK_SHIFT)
    bits 36-47  second account tag

A new prompt takes an empty entry, else the entry last sent longest ago among those of one
account, else one of several accounts not sent for STALE ticks; otherwise it is not remembered.
Public items are sent again and again, so they stay; a one-off prompt makes room.
"""

from __future__ import annotations

import sys
import zlib
from array import array

import msgspec

BUCKETS = 1 << 14
WAYS = 2              # entries per bucket (the code below is unrolled for two)
_BUCKET = BUCKETS - 1
CLOCK_SHIFT = 12      # the clock ticks every 4096 prompts learned
CLOCK_MASK = (1 << 14) - 1
STALE = 64            # ticks (~260k prompts) before an item of several accounts may make room
_FP = (1 << 24) - 1
_TAG = (1 << 12) - 1


def account_tag(account_id: str) -> int:
    """12 bits naming an account inside one item's entry (two accounts sharing a tag look like
    one: an item is then missed as public, never taken for one)."""
    return zlib.crc32(account_id.encode()) >> 20 or 1


class ItemsSnapshot(msgspec.Struct, array_like=True):
    words: bytes      # BUCKETS * WAYS little-endian uint64 entries
    inserts: int


class PublicItems:
    """`seen_elsewhere(item, tag)` (pure) and `add(item, tag)`; `item` is a 64-bit prompt hash.
    Both run once per request: written for speed (two ways, unrolled)."""

    def __init__(self) -> None:
        self.words = array("Q", bytes(8 * BUCKETS * WAYS))
        self.inserts = 0

    def seen_elsewhere(self, item: int, tag: int) -> bool:
        """Did an account other than the one tagged `tag` send this prompt (as far as the sketch
        remembers)? Changes no state."""
        i, fp, words = (item & _BUCKET) << 1, (item >> 24) & _FP, self.words
        w = words[i]
        if not w or w & _FP != fp:
            w = words[i + 1]
            if not w or w & _FP != fp:
                return False
        return (w >> 24) & _TAG != tag or (w >> 48) & 3 >= 2

    def add(self, item: int, tag: int) -> None:
        """One request's prompt, sent by the account tagged `tag`."""
        i, fp, words = (item & _BUCKET) << 1, (item >> 24) & _FP, self.words
        self.inserts = inserts = self.inserts + 1
        now = (inserts >> CLOCK_SHIFT) & CLOCK_MASK
        a, b = words[i], words[i + 1]
        if a and a & _FP == fp:
            w = a
        elif b and b & _FP == fp:
            w, i = b, i + 1
        else:  # new here: an empty entry, else the longest unsent of one account (or stale)
            if a and b:
                age_a, age_b = (now - (a >> 50)) & CLOCK_MASK, (now - (b >> 50)) & CLOCK_MASK
                ok_a = (a >> 48) & 3 == 1 or age_a >= STALE
                ok_b = (b >> 48) & 3 == 1 or age_b >= STALE
                if not (ok_a or ok_b):
                    return
                i += ok_b and (not ok_a or age_b > age_a)
            elif a:
                i += 1
            words[i] = fp | tag << 24 | 1 << 48 | now << 50
            return
        first, second, n = (w >> 24) & _TAG, (w >> 36) & _TAG, (w >> 48) & 3
        if tag != first and (n < 2 or tag != second):
            if n == 1:
                second = tag
            n = min(3, n + 1)
        words[i] = fp | first << 24 | second << 36 | n << 48 | now << 50

    def snapshot(self) -> ItemsSnapshot:
        words = self.words
        if sys.byteorder == "big":
            words = array("Q", words)
            words.byteswap()
        return ItemsSnapshot(words.tobytes(), self.inserts)

    def restore(self, snap: ItemsSnapshot) -> None:
        words = array("Q")
        words.frombytes(snap.words)
        if sys.byteorder == "big":
            words.byteswap()
        if len(words) == BUCKETS * WAYS:  # a snapshot of another geometry starts afresh
            self.words, self.inserts = words, snap.inserts
