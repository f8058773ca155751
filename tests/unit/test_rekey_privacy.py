"""The re-key topic carries no prompt text: an event re-keyed by the worker travels with its
text replaced by what is derived from it, and scores exactly like the original. A producer
cannot claim derived signals of its own."""

import time

import msgspec
from distillguard.models.engine import Engine
from distillguard.models.event import Event
from distillguard.models.profile import profile_encoder
from distillguard.stream.agents.rekey import encode_rekeyed
from distillguard.stream.intake import parse_event
from distillguard.stream.simulate.generator import SimConfig, generate

_decode = msgspec.json.Decoder(Event).decode


def _events() -> list[Event]:
    _, stream = generate(SimConfig(events=3000, accounts=30, seed=9))
    encode = msgspec.json.Encoder().encode
    now = time.time()
    return [parse_event(encode(e), now) for e in stream]


def test_rekeyed_events_carry_no_text_and_score_as_the_originals():
    events = _events()
    texts = [e.prompt.text for e in events if e.prompt is not None and e.prompt.text]
    assert len(texts) > 1000
    direct, rekeyed = Engine({}), Engine({})
    for event in events:
        wire = encode_rekeyed(event)
        if event.prompt is not None and event.prompt.text:
            assert event.prompt.text.encode() not in wire
            assert b'"text"' not in wire
        direct.process(event)
        rekeyed.process(_decode(wire))
    assert direct.profiles.keys() == rekeyed.profiles.keys()
    for account, profile in direct.profiles.items():
        assert profile_encoder.encode(profile) == profile_encoder.encode(rekeyed.profiles[account])


def test_producers_cannot_claim_derived_signals():
    raw = (b'{"event_id": "e1", "timestamp": 1793491200000, "account_id": "a", "prompt": '
           b'{"text": "Pick one: A) x B) y C) z?", "signals": [0, false, false, 1]}}')
    event = parse_event(raw, time.time())
    assert event.prompt.text and event.prompt.signals is None
