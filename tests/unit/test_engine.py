"""The engine: de-duplication, bounded state, alerts for attacks, quiet for ordinary use."""

import msgspec
from distillguard.models.alerting import alert_id
from distillguard.models.detectors.rules import RULES
from distillguard.models.engine import Engine, EngineConfig
from distillguard.models.event import Event
from distillguard.models.profile import AccountProfile, profile_decoder, profile_encoder
from distillguard.models.timestamps import to_epoch_seconds

from tests.helpers import BASE_TS, chat_events, event, harvester_events


def as_event(d: dict) -> Event:
    ev = msgspec.convert(d, Event)
    ev.ts = to_epoch_seconds(ev.timestamp)
    return ev


def run(events: list[dict], config: EngineConfig | None = None):
    profiles: dict[str, AccountProfile] = {}
    engine = Engine(profiles, config)
    outcomes = [engine.process(as_event(e)) for e in events]
    outcomes += engine.flush(list(profiles))
    return profiles, outcomes


def test_repeated_event_id_is_counted_once():
    events = chat_events("acct-1", 50)
    profiles, outcomes = run(events + events[:20] + events[30:35])
    assert profiles["acct-1"].events == 50
    assert profiles["acct-1"].duplicates == 25
    assert sum(o.duplicate for o in outcomes) == 25


def test_state_size_does_not_grow_with_events():
    """Containers in the profile keep their size; only integer widths grow (logarithmically)."""
    def containers(p: AccountProfile) -> dict[str, int]:
        # `reasons` holds the strongest reasons firing now: at most 3, checked below
        return {k: len(v) for k, v in msgspec.structs.asdict(p).items()
                if isinstance(v, list | bytearray | bytes | str) and k != "reasons"}

    sizes, shapes = [], []
    for n in (2000, 20000):
        profiles, _ = run(harvester_events("acct-big", n, step_ms=500))
        sizes.append(len(profile_encoder.encode(msgspec.structs.replace(profiles["acct-big"],
                                                                      reasons=[]))))
        shapes.append(containers(profiles["acct-big"]))
    assert shapes[0] == shapes[1]
    assert len(profiles["acct-big"].reasons) <= 3  # the strongest: what the CSV shows
    assert sizes[1] - sizes[0] < 48, sizes   # 10x the events: a few wider integers at most
    assert sizes[1] < 8192


def test_profile_roundtrips_through_the_changelog_codec():
    profiles, _ = run(harvester_events("acct-rt", 120))
    p = profiles["acct-rt"]
    assert profile_decoder.decode(profile_encoder.encode(p)) == p


def test_logprob_harvester_alerts_with_reason_and_evidence():
    profiles, outcomes = run(harvester_events("acct-h", 300))
    alerts = [o.alert for o in outcomes if o.alert]
    assert alerts, "no alert for a logprob harvester"
    assert alerts[0].account_id == "acct-h"
    assert alerts[0].alert_id == alert_id("acct-h", alerts[0].reason_group, alerts[0].event_ts)
    assert alerts[0].reason_group == "logit_extraction"
    assert alerts[0].example_event_ids and alerts[0].window_start <= alerts[0].window_end
    assert profiles["acct-h"].risk >= 80
    codes = {r.code for r in alerts[-1].reasons}
    assert "logprob_harvesting" in codes
    harvest = next(r for r in alerts[-1].reasons if r.code == "logprob_harvesting")
    assert harvest.evidence["tiny_logprob_share"] == 1.0


def test_ordinary_chat_customer_stays_low():
    profiles, outcomes = run(chat_events("acct-c", 400))
    assert profiles["acct-c"].risk < 50
    assert not [o for o in outcomes if o.alert]


def test_sustained_attack_is_one_alert_that_escalates():
    _, outcomes = run(harvester_events("acct-h2", 1000), EngineConfig(score_every=1))
    alerts = [o.alert for o in outcomes if o.alert]
    assert 1 <= len(alerts) <= 2  # opened at "high", at most one escalation to "critical"
    assert len({a.alert_id for a in alerts}) == 1
    assert [a.escalations for a in alerts] == list(range(len(alerts)))
    assert [a.severity for a in alerts] == sorted({a.severity for a in alerts},
                                                  key=["high", "critical"].index)


def test_realert_only_after_cooldown():
    day_ms = 86_400_000
    first = harvester_events("acct-cd", 300, step_ms=2000)
    later = harvester_events("acct-cd", 300, start_ms=BASE_TS + 2 * day_ms, step_ms=2000)
    _, outcomes = run(first + later, EngineConfig(score_every=1))
    ids = {o.alert.alert_id for o in outcomes if o.alert}
    assert len(ids) == 2  # a new alert two days later, none in between


def test_false_positive_label_silences_reason_until_behaviour_changes():
    profiles: dict[str, AccountProfile] = {}
    engine = Engine(profiles)
    for e in harvester_events("acct-fp", 200):
        engine.process(as_event(e))
    assert profiles["acct-fp"].risk >= 80
    engine.feedback("acct-fp", "false_positive", ["logprob_harvesting", "logit_bias_probing"])
    for e in harvester_events("acct-fp", 100, start_ms=BASE_TS + 500_000):
        engine.process(as_event(e))
    engine.flush(["acct-fp"])
    p = profiles["acct-fp"]
    assert "logprob" not in " ".join(p.reasons)
    assert p.risk < 80
    # one account's label silences it for that account only; the global weight needs evidence
    # from many accounts (models/feedback.py, tests/unit/test_feedback.py)
    assert engine.learned.feedback.weight("logprob_harvesting") == 1.0


def test_scores_use_event_time_only():
    """Same events, same scores: no wall clock anywhere in the engine."""
    events = harvester_events("acct-t", 200) + chat_events("acct-u", 200)
    events.sort(key=lambda e: e["timestamp"])
    p1, o1 = run(events)
    p2, o2 = run(events)
    assert [o.risk for o in o1] == [o.risk for o in o2]
    assert p1 == p2


def test_cadence_scores_every_k_events():
    _, outcomes = run(chat_events("acct-k", 100, step_ms=1000), EngineConfig(score_every=10,
                                                                              score_interval_s=1e9))
    # the first event (every account gets a risk row at once), then events 11, 21, ..., 91
    assert sum(o.risk is not None for o in outcomes) == 1 + 9 + 1  # + the end-of-replay flush


def test_events_without_prompt_or_params_are_scored():
    profiles, _ = run([event("acct-bare") for _ in range(40)])
    assert profiles["acct-bare"].events == 40


def test_release_chasing_moves_to_a_new_model():
    day = 86_400_000
    old = [dict(e, model="large-2") for e in chat_events("acct-old", 50, step_ms=60_000)]
    fresh = [dict(e, model="large-3") for e in chat_events("acct-chase", 150,
                                                           start_ms=BASE_TS + 2 * day)]
    profiles, _ = run(old + fresh)
    reasons = " ".join(profiles["acct-chase"].reasons)
    assert "released in the last 7 days" in reasons
    assert "released" not in " ".join(profiles["acct-old"].reasons)


def test_first_duplicate_reemits_current_state_once():
    """After a crash, re-read events are duplicates; the first one re-sends the account's state
    (outputs lost in the crash are repaired by upserts), later ones send nothing."""
    profiles: dict[str, AccountProfile] = {}
    engine = Engine(profiles)
    events = harvester_events("acct-re", 200)
    for e in events:
        engine.process(as_event(e))
    first, second = engine.process(as_event(events[-1])), engine.process(as_event(events[-2]))
    assert first.duplicate and first.risk is not None and first.risk.seq == 200
    assert first.alert is not None and first.alert.alert_id in {
        s[0] for s in profiles["acct-re"].open_alerts.values()}
    assert second.duplicate and second.risk is None and second.alert is None
    assert profiles["acct-re"].events == 200


def test_poisson_arrivals_are_not_machine_regular():
    import random

    from distillguard.models.features import account_features

    rng = random.Random(1)
    p, ts = AccountProfile("acct-poisson"), 0.0
    metronome = AccountProfile("acct-metronome")
    for i in range(2000):
        ts += rng.expovariate(1 / 30)
        p.update(as_event(event("acct-poisson", BASE_TS + int(ts * 1000))))
        metronome.update(as_event(event("acct-metronome", BASE_TS + i * 30_000 + rng.randint(0, 900))))
    assert account_features(p)["gap_regularity"] < 0.1
    assert account_features(metronome)["gap_regularity"] > 0.8


def test_reasoning_asks_alone_reach_medium_not_high():
    import random

    rng = random.Random(2)
    words = ["apple", "train", "river", "seven", "fraction", "divide", "garden", "ticket",
             "share", "minutes", "price"]
    events = [event("acct-tutor", BASE_TS + int(rng.expovariate(1 / 60) * 1000) + i * 60_000,
                    input_tokens=80, output_tokens=300,
                    prompt={"text": " ".join(rng.choices(words, k=rng.randint(8, 30)))
                            + " Explain step by step.", "messages": 1}) for i in range(300)]
    profiles, _ = run(events)
    assert 50 <= profiles["acct-tutor"].risk < 80, profiles["acct-tutor"].reasons


def test_population_norms_snapshot_roundtrips():
    from distillguard.models.thresholds import HISTORY, PRIOR, PopulationNorms, Snapshot

    norms = PopulationNorms()
    assert norms.norms("x") == PRIOR  # warm-up: the conservative prior
    for i in range(2000):  # 100 accounts, 20 events each past their first HISTORY
        norms.learn("x", (100.0 + i % 50, 40.0, None, None), HISTORY + 1 + i // 100, i)
    learned = norms.norms("x")
    assert learned != PRIOR and 100 <= learned.long_output <= 200
    snap = msgspec.msgpack.decode(msgspec.msgpack.encode(norms.snapshot()), type=Snapshot)
    again = PopulationNorms()
    again.restore(snap)
    assert again.norms("x") == learned


def test_one_high_volume_account_cannot_move_the_norms():
    from distillguard.models.thresholds import HISTORY, PopulationNorms

    norms = PopulationNorms()
    for i in range(3000):  # many accounts, 20 learned events each
        norms.learn("x", (100.0, 40.0, None, None), HISTORY + 1 + i // 150, i)
    before = norms.norms("x").long_output
    for i in range(100_000):
        norms.learn("x", (5000.0, 40.0, None, None), i + 1, i * 2654435761)  # one harvester
    assert norms.norms("x").long_output == before


def test_norms_learn_from_judged_accounts_of_a_populated_segment():
    """An account's first HISTORY events teach nothing (it is not judged yet), and a segment of
    a few accounts answers with the population's cut-offs, not its own."""
    from distillguard.models.thresholds import HISTORY, MIN_ACCOUNTS, PopulationNorms

    norms = PopulationNorms()
    for i in range(3000):  # the population: answers of ~100 tokens, 60 accounts
        norms.learn("crowd", (100.0, 40.0, None, None), HISTORY + 1 + i // 60, i)
    for i in range(HISTORY):  # a newcomer's first requests are not learned
        norms.learn("crowd", (5000.0, 40.0, None, None), i + 1, i)
    assert norms.norms("crowd").long_output < 200
    for i in range(2000):  # a rare client: MIN_ACCOUNTS - 1 accounts with very long answers
        norms.learn("rare", (5000.0, 40.0, None, None), HISTORY + 1 + i // (MIN_ACCOUNTS - 1), i)
    assert norms.learned["rare"] >= 300 and norms.accounts["rare"] == MIN_ACCOUNTS - 1
    assert norms.norms("rare") == norms.norms("*")


def test_group_stage_rarity_and_behaviour():
    from distillguard.models.groups import GroupState, MemberSummary, fold, group_risk

    campaign: GroupState | None = None
    for i in range(12):
        campaign = fold(campaign, "reg:0:1", MemberSummary(f"a{i}", 100.0 + i, 200, 30, 0.8))
    crowd: GroupState | None = None
    for i in range(300):
        crowd = fold(crowd, "asn:x", MemberSummary(f"b{i}", 100.0 + i, 200, 0, 0.0))
    for i in range(12):
        crowd = fold(crowd, "asn:x", MemberSummary(f"a{i}", 500.0 + i, 200, 30, 0.8))
    honest: GroupState | None = None
    for i in range(12):
        honest = fold(honest, "sys:y", MemberSummary(f"c{i}", 100.0 + i, 200, 0, 0.05))
    assert group_risk(campaign, "reg:0:1").risk >= 80
    assert group_risk(crowd, "asn:x").risk < 20          # a big cloud + SDK links nobody alone
    assert group_risk(honest, "sys:y").risk == 0         # shared, but not extraction-like
    assert len(crowd.members) <= 64 and group_risk(crowd, "asn:x").size > 200


def test_context_evidence_never_lifts_one_medium_behaviour_into_an_alert():
    from distillguard.models.outcomes import Reason
    from distillguard.models.scoring import CONTEXT_CAP, fuse

    def reason(code):
        return Reason(code, code, 1.0)

    medium = [(reason("reasoning_elicitation"), RULES["reasoning_elicitation"][1])]
    context = [(reason(c), w) for c, w in (("scripted_around_the_clock", 0.3),
                                           ("new_account_volume", 0.35),
                                           ("unlike_peers", 0.35), ("resembles_harvesters", 0.35))]
    assert fuse(medium)[0] == 60.0
    risk, reasons = fuse(medium + context)
    assert risk == round(100 * (1 - 0.4 * (1 - CONTEXT_CAP)), 1) < 80
    assert reasons[0].code == "reasoning_elicitation"
    # two behaviours are independent evidence and do add up
    assert fuse([*medium, (reason("extraction_shape"), 0.85)])[0] > 90


def test_group_verdicts_of_keys_no_longer_carried_expire():
    from distillguard.models.group_messages import MemberSummary
    from distillguard.models.groups import combine
    from distillguard.models.topology import GroupTable

    profiles: dict[str, AccountProfile] = {}
    engine, table = Engine(profiles), GroupTable()
    member = profiles["m"] = AccountProfile("m", events=100, first_ts=50_000.0, last_ts=50_001.0,
                                            payment_fingerprint="card-1")
    for i in range(6):
        table.merge("pay:card-1", MemberSummary(f"h{i}", 1.0, 100, 90.0, 0.9))
    for verdict in table.merge("pay:card-1", MemberSummary("m", 50_001.0, 100, 10.0, 0.0)):
        engine.receive(verdict)
    assert combine(member.group_verdicts)[0] > 0  # linked by the card
    member.payment_fingerprint = "card-2"  # its own card now: the old link no longer holds
    engine.rescore()
    engine._score(member, "")  # its next score tells its groups, and drops the old verdict
    assert combine(member.group_verdicts)[0] == 0
