"""Per-request reductions of round 3: reordered prompts (a pairwise judgment asked in both
orders), answer-seeking requests (a sub-stream's softer flag), and the member floor of a shared
payment instrument."""

import hashlib

from distillguard.models.detectors.rules import judge_harvesting
from distillguard.models.features import account_features
from distillguard.models.profile import PRIOR, answer_seeking
from distillguard.models.simhash import simhash64
from distillguard.models.substreams import EXTRACTIVE

from tests.helpers import BASE_TS, event
from tests.unit.test_engine import as_event, run

JUDGE = ("[Question]\n{q}\n\n[The Start of Assistant A's Answer]\n{a}\n[The End of Assistant A's "
         "Answer]\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]"
         "\n\nWhich is better? Reply [[A]], [[B]] or [[C]].")


def _prompt(text: str, with_hash: bool = True) -> dict:
    out = {"simhash": f"{simhash64(text):016x}", "chars": len(text), "messages": 1}
    if with_hash:
        out["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def _words(i: int, n: int) -> str:
    return " ".join(f"w{(i * 31 + k * 7) % 997}x{k % 13}" for k in range(n))


def judge_events(account: str, pairs: int, swap: bool, answer: int = 250) -> list[dict]:
    out, ts = [], BASE_TS
    for i in range(pairs):
        q, a, b = _words(i, 20), _words(i + 5000, 120), _words(i + 9000, 140)
        orders = [(a, b), (b, a)] if swap else [(a, b)]
        for x, y in orders:
            ts += 20_000
            out.append(event(account, ts, input_tokens=900, output_tokens=answer,
                             params={"temperature": 0, "max_tokens": 2048},
                             prompt=_prompt(JUDGE.format(q=q, a=x, b=y))))
    return out


def test_a_swapped_pairwise_judgment_reorders_the_prompt():
    a, b = _words(1, 100), _words(2, 100)
    first, second = JUDGE.format(q="Q?", a=a, b=b), JUDGE.format(q="Q?", a=b, b=a)
    assert len(first) == len(second) and first != second
    assert (simhash64(first) ^ simhash64(second)).bit_count() == 0  # every word bigram kept
    profiles, _ = run(judge_events("judge", 40, swap=True))
    assert profiles["judge"].reordered == 40


def test_a_retry_a_label_read_and_a_one_order_judge_are_not_reorderings():
    retry = event("retry", input_tokens=900, output_tokens=250, prompt=_prompt(JUDGE))
    again = event("retry", input_tokens=900, output_tokens=250, prompt=_prompt(JUDGE))
    labels = judge_events("circular", 30, swap=True, answer=1)  # CircularEval's 1-token reads
    once = judge_events("once", 60, swap=False)
    profiles, _ = run([retry, again, *labels, *once])
    assert profiles["retry"].reordered == 0
    assert profiles["circular"].reordered == 0
    assert profiles["once"].reordered == 0


def test_a_text_free_pairwise_judge_harvester_is_judged_by_its_swaps():
    profiles, _ = run(judge_events("judge", 60, swap=True))
    p = profiles["judge"]
    reason = judge_harvesting(p, account_features(p))
    assert reason is not None and reason.strength == 1.0
    assert "both orders" in reason.text
    assert p.risk >= 80
    profiles, _ = run(judge_events("once", 120, swap=False))  # the evasion: one order only
    assert judge_harvesting(profiles["once"], account_features(profiles["once"])) is None


def test_answer_seeking_is_single_turn_and_several_times_its_prompt():
    def ev(inp, out, messages):
        return as_event(event("x", input_tokens=inp, output_tokens=out,
                              prompt={"chars": 80, "messages": messages}))
    half = PRIOR.long_output / 2
    assert answer_seeking(ev(20, int(half) + 10, 1), int(half) + 10)
    assert not answer_seeking(ev(20, int(half) - 10, 1), int(half) - 10)  # a short answer
    assert not answer_seeking(ev(200, int(half) + 10, 1), int(half) + 10)  # < 4x the prompt
    assert not answer_seeking(ev(20, int(half) + 10, 5), int(half) + 10)   # a conversation


def test_answer_seeking_requests_mark_a_sub_stream():
    """A harvest key asking for a few hundred tokens (under the long cut-off) stands apart from
    a product's conversations on its other key."""
    events = []
    for i in range(120):
        events.append(event("acct", BASE_TS + i * 30_000, api_key_id="product", input_tokens=900,
                            output_tokens=300, prompt={"chars": 3000, "messages": 4}))
        if i % 4 == 0:
            events.append(event("acct", BASE_TS + i * 30_000 + 1, api_key_id="side",
                                input_tokens=25, output_tokens=450,
                                prompt={"chars": 90, "messages": 1}))
    profiles, _ = run(events)
    p = profiles["acct"]
    assert p.shaped_requests == 0  # not extraction-shaped: under the long cut-off
    rows = {r[0]: r for r in p.substreams.rows[0]}
    side = max(rows.values(), key=lambda r: r[EXTRACTIVE])
    assert side[EXTRACTIVE] == 30 and sum(r[EXTRACTIVE] for r in rows.values()) == 30
    assert any(r.startswith("one api key or client setting carries 30 requests, 100%") for r in p.reasons)


def test_a_benign_looking_member_of_a_card_carries_most_of_its_verdict():
    from distillguard.models.groups import MemberSummary, fold, verdicts

    state = None
    for i in range(8):
        state = fold(state, "pay:card", MemberSummary(f"h{i}", 1.0 + i, 200, 90.0, 0.9))
        state = fold(state, "reg:0:1", MemberSummary(f"h{i}", 1.0 + i, 200, 90.0, 0.9))
    state = fold(state, "pay:card", MemberSummary("judge", 20.0, 200, 0.0, 0.0))
    card = {v.account_id: v for v in verdicts(state, "pay:card")}
    assert card["judge"].risk >= 0.8 * card["h0"].risk - 0.1
    burst = None
    for i in range(8):
        burst = fold(burst, "reg:0:1", MemberSummary(f"h{i}", 1.0 + i, 200, 90.0, 0.9))
    burst = fold(burst, "reg:0:1", MemberSummary("stranger", 20.0, 200, 0.0, 0.0))
    reg = {v.account_id: v for v in verdicts(burst, "reg:0:1")}
    assert reg["stranger"].risk <= 0.25 * reg["h0"].risk + 0.1  # a burst: strangers sign up too


def test_a_start_wave_is_new_accounts_starting_within_the_stream():
    from distillguard.models.groups import UNSEEN_START_S, link_keys
    from distillguard.models.profile import AccountProfile

    early = AccountProfile("early", events=10, first_ts=1000.0, last_ts=2000.0)
    late = AccountProfile("late", events=10, first_ts=1000.0 + UNSEEN_START_S, last_ts=9e3)
    assert not any(k.startswith("wave:") for k in link_keys(early, stream_start=1000.0))
    assert sum(k.startswith("wave:") for k in link_keys(late, stream_start=1000.0)) == 2
    old = AccountProfile("old", events=10, first_ts=1000.0 + UNSEEN_START_S, last_ts=9e3,
                         created_ts=1000.0 - 400 * 86400)  # resuming, not starting
    assert not any(k.startswith("wave:") for k in link_keys(old, stream_start=1000.0))


def _verdicts_of(kind: str, member: str) -> list:
    """The verdicts of one extraction-like group of `kind` (8 harvesters) that `member`, who
    looks ordinary on its own, also joined."""
    from distillguard.models.groups import MemberSummary, fold, verdicts

    key, state = f"{kind}:x", None
    for i in range(8):
        state = fold(state, key, MemberSummary(f"h{i}", 1.0 + i, 200, 90.0, 0.9))
    state = fold(state, key, MemberSummary(member, 20.0, 200, 0.0, 0.0))
    return [v for v in verdicts(state, key) if v.account_id == member]


def test_independent_weak_links_to_one_campaign_multiply():
    from distillguard.models.groups import combine

    one = combine(_verdicts_of("reg", "m"))[0]
    assert one == _verdicts_of("reg", "m")[0].risk  # one kind: what its verdict says
    two = combine(_verdicts_of("reg", "m") + _verdicts_of("wave", "m"))[0]
    three = combine(_verdicts_of("reg", "m") + _verdicts_of("wave", "m")
                    + _verdicts_of("asn", "m"))[0]
    noisy_or = 100 * (1 - (1 - one / 100) * (1 - _verdicts_of("wave", "m")[0].risk / 100))
    assert two > noisy_or + 10  # a second coincidence is evidence, not just more of the same
    assert three > two and three >= 75  # three coincidences: close to a proven member
    assert combine(_verdicts_of("reg", "m") + _verdicts_of("reg", "m"))[0] == one  # same kind


def test_nested_links_and_links_to_ordinary_groups_do_not_multiply():
    from distillguard.models.groups import MemberSummary, combine, fold, verdicts

    # a proxy range with its client lies inside a hosting network with it: one coincidence
    net_and_asn = _verdicts_of("net", "m") + _verdicts_of("asn", "m")
    keep = (1 - net_and_asn[0].risk / 100) * (1 - net_and_asn[1].risk / 100)
    assert combine(net_and_asn)[0] == round(100 * (1 - keep), 1)
    # a start wave of mostly ordinary new accounts says little about belonging to the burst's
    wave = None
    for i in range(5):
        wave = fold(wave, "wave:0:1", MemberSummary(f"o{i}", 1.0 + i, 200, 0.0, 0.02))
    for i in range(3):
        wave = fold(wave, "wave:0:1", MemberSummary(f"h{i}", 1.0 + i, 200, 90.0, 0.9))
    wave = fold(wave, "wave:0:1", MemberSummary("m", 20.0, 200, 0.0, 0.0))
    weak = [v for v in verdicts(wave, "wave:0:1") if v.account_id == "m"]
    assert weak and 0 < weak[0].risk / weak[0].share < 30
    burst = _verdicts_of("reg", "m")
    keep = (1 - burst[0].risk / 100) * (1 - weak[0].risk / 100)
    assert combine(burst + weak)[0] == round(100 * (1 - keep), 1)
