"""The population's sketch of prompts other accounts send (models/items.py) and what the
engine makes of it: a benchmark's prompts are public items, a harvest's mostly are not."""

import hashlib
import random

from distillguard.models.detectors.rules import extraction_shape
from distillguard.models.features import account_features
from distillguard.models.items import (
    BUCKETS,
    CLOCK_SHIFT,
    STALE,
    WAYS,
    PublicItems,
    account_tag,
)
from distillguard.models.learned import Learned

from tests.helpers import BASE_TS, event
from tests.unit.test_engine import run


def _h(i: int) -> int:
    return int(hashlib.sha256(f"item-{i}".encode()).hexdigest()[:16], 16)


def test_an_item_is_public_once_another_account_sent_it():
    items, a, b = PublicItems(), account_tag("acct-a"), account_tag("acct-b")
    assert not items.seen_elsewhere(_h(1), a)
    items.add(_h(1), a)
    items.add(_h(1), a)  # the same account again: its own repeat, not public
    assert not items.seen_elsewhere(_h(1), a)
    assert items.seen_elsewhere(_h(1), b)
    items.add(_h(1), b)
    assert items.seen_elsewhere(_h(1), a) and items.seen_elsewhere(_h(1), b)
    assert not items.seen_elsewhere(_h(2), b)


def test_the_sketch_is_bounded_and_keeps_items_many_accounts_send():
    items = PublicItems()
    popular = [_h(i) for i in range(2000)]
    for k in range(5):  # five accounts run the same benchmark
        for h in popular:
            items.add(h, account_tag(f"bench-{k}"))
    rng = random.Random(1)
    flood = STALE << CLOCK_SHIFT  # one-off prompts, until a public item may make room
    for i in range(flood - 4 * len(popular)):
        items.add(rng.getrandbits(64), account_tag(f"chat-{i % 500}"))
    assert len(items.words) == BUCKETS * WAYS
    kept = sum(items.seen_elsewhere(h, account_tag("newcomer")) for h in popular)
    assert kept >= 0.9 * len(popular)
    for i in range(flood):  # nobody sent them again for that long: they make room
        items.add(rng.getrandbits(64), account_tag(f"chat-{i % 500}"))
    kept = sum(items.seen_elsewhere(h, account_tag("newcomer")) for h in popular)
    assert kept <= 0.2 * len(popular)


def test_snapshot_roundtrip_and_an_old_snapshot_without_the_sketch():
    learned = Learned()
    for i in range(500):
        learned.see_item(_h(i % 50), account_tag(f"a{i % 7}"))
    again = Learned.decode(learned.encode())
    assert again.items.snapshot() == learned.items.snapshot()
    for i in range(60):
        assert again.items.seen_elsewhere(_h(i), 7) == learned.items.seen_elsewhere(_h(i), 7)


def _cot_like(account: str, n: int, prompts: list[str]) -> list[dict]:
    """Short single-turn prompts with long answers, no text: a chain-of-thought benchmark and
    a response harvest look alike."""
    out = []
    for i in range(n):
        text = prompts[i % len(prompts)]
        h = hashlib.sha256(text.encode()).hexdigest()
        out.append(event(account, BASE_TS + i * 20_000, input_tokens=60, output_tokens=1200,
                         params={"temperature": 0, "max_tokens": 2048},
                         prompt={"sha256": h, "simhash": h[:16], "chars": 250, "messages": 1}))
    return out


def test_a_text_free_benchmark_run_weighs_less_than_a_sweep_of_new_prompts():
    items = [f"benchmark item {i}" for i in range(300)]
    events = _cot_like("first-runner", 300, items)           # ran it before the others
    for k in range(3):
        events += _cot_like(f"bench-{k}", 300, items)
    events += _cot_like("harvest", 300, [f"new prompt {i}" for i in range(300)])
    events.sort(key=lambda e: e["timestamp"])
    profiles, _ = run(events)
    bench, sweep = profiles["bench-2"], profiles["harvest"]
    assert account_features(bench)["public_share"] > 0.9
    assert account_features(sweep)["public_share"] == 0.0
    weak, strong = (extraction_shape(p, account_features(p)) for p in (bench, sweep))
    assert weak.strength <= 0.55 * strong.strength and "other accounts send too" in weak.text
