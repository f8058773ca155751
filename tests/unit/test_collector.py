"""The garbage-collector setting of a replay is raised while it scores and restored after,
also when the replay fails: it must not leak into the process that called it."""

from __future__ import annotations

import gc

import pytest
from distillguard.stream.collector import GC_YOUNG_THRESHOLD, fewer_collections


def test_threshold_raised_inside_and_restored_after_even_on_error():
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    try:
        with pytest.raises(RuntimeError), fewer_collections():
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
            raise RuntimeError("replay failed")
        assert gc.get_threshold()[0] == 700
    finally:
        gc.set_threshold(*before)


def test_a_higher_threshold_set_by_the_caller_is_kept():
    before = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD * 5, *before[1:])
    try:
        with fewer_collections():
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD * 5
    finally:
        gc.set_threshold(*before)
