"""Sub-streams of round 4: compared beyond reasoning asks where the product itself asks for
steps, the client's settings as part of the API key's sub-stream, and the benchmark discount
that fades where a sub-stream's harvest is more than asks."""

from distillguard.models.detectors.rules import substream_extraction
from distillguard.models.features import account_features

from tests.helpers import BASE_TS, event
from tests.unit.test_engine import run

ASK = "Explain every step of your working."


def _product(account: str, i: int, **fields) -> dict:
    """A tutoring app's request: a homework question asking for the steps, a worked answer."""
    text = f"A train leaves at {i % 12} and travels {i * 7 % 90} km. How long? {ASK}"
    return event(account, BASE_TS + i * 30_000, api_key_id="product", input_tokens=60,
                 output_tokens=300, params={"temperature": 0.5, "stream": True},
                 prompt={"text": text, "messages": 1}, **fields)


def _side(account: str, i: int, ask: bool, key: str = "side", **params) -> dict:
    """A harvest request: a short instruction, a long answer; `ask`: it asks for steps."""
    text = f"Write a detailed essay on topic number {i} of the history of trade."
    return event(account, BASE_TS + i * 30_000 + 1, api_key_id=key, input_tokens=25,
                 output_tokens=1500, params={"temperature": 0.7, **params},
                 prompt={"text": f"{text} {ASK}" if ask else text, "messages": 1})


def _reason(p):
    return substream_extraction(p, account_features(p))


def test_a_harvest_key_beside_a_tutoring_app_is_told_by_more_than_its_asks():
    """Every request of a tutoring app asks for steps, so by asks alone the harvest key is no
    different from the rest; its long answers to plain prompts are."""
    events = []
    for i in range(160):
        events.append(_product("tutor", i))
        if i % 5 == 0:
            events.append(_side("tutor", i, ask=False, max_tokens=4096))
    profiles, _ = run(events)
    p = profiles["tutor"]
    assert p.reasoning_only >= 150
    reason = _reason(p)
    assert reason is not None and reason.strength >= 0.9
    assert "beyond a reasoning ask" in reason.text


def test_a_script_on_the_products_key_with_its_own_settings_is_a_sub_stream():
    """The same API key, but the product streams and the script caps its answers: two
    programs, two sub-streams."""
    events = []
    for i in range(160):
        events.append(event("app", BASE_TS + i * 30_000, api_key_id="only", input_tokens=900,
                            output_tokens=300, params={"temperature": 1.0, "stream": True},
                            prompt={"chars": 3000, "messages": 4}))
        if i % 5 == 0:
            events.append(_side("app", i, ask=False, key="only", max_tokens=2048))
    profiles, _ = run(events)
    reason = _reason(profiles["app"])
    assert reason is not None and reason.strength >= 0.9
    assert reason.text.startswith("one api key or client setting carries 32 requests")


def test_the_benchmark_discount_holds_for_asks_only_and_fades_for_a_mixed_harvest():
    """An evaluation key running a chain-of-thought benchmark beside a product (every item asks
    for steps) keeps the discount; a harvest key asking for steps only half the time does not."""
    def account(name: str, every_other_ask: bool) -> list[dict]:
        out = []
        for i in range(160):
            out.append(event(name, BASE_TS + i * 30_000, api_key_id="product", input_tokens=900,
                             output_tokens=300, params={"stream": True},
                             prompt={"text": f"Hi, about my order {i}?", "messages": 4}))
            if i % 5 == 0:
                out.append(_side(name, i, ask=not every_other_ask or i % 10 == 0,
                                 max_tokens=2048))
        return out
    profiles, _ = run(account("eval", False) + account("harvest", True))
    bench, harvest = _reason(profiles["eval"]), _reason(profiles["harvest"])
    assert bench is not None and bench.strength <= 0.75
    assert harvest is not None and harvest.strength >= 0.95
