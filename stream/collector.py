"""Python's cyclic garbage collector, tuned for scoring: a scored event allocates a few objects
and frees nearly all of them at once, so the default young-generation threshold (700) runs the
collector often enough, walking every profile, group and tree, to cost ~2 us an event (~3%)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections while scoring


def collect_less() -> None:
    """Raise the young-generation threshold for the rest of the process (the worker)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_YOUNG_THRESHOLD), *before[1:])


@contextmanager
def fewer_collections() -> Iterator[None]:
    """`collect_less` for the length of a replay or an evaluation, restored after (also as a
    decorator: `@fewer_collections()`)."""
    before = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*before)
