"""The contract's validation: every bad-input kind gets its own reason (formats: test_formats.py)."""

import time

import pytest
from distillguard.stream.intake import DeadLetter, Reason, parse_event

from tests.helpers import event, raw

NOW = time.time()


@pytest.mark.parametrize("payload, reason", [
    (b'{"event_id": "x"}', Reason.MISSING_FIELD),
    (b"[1, 2]", Reason.NOT_AN_OBJECT),
    (b'{"event_id": "a", "timestamp": "yesterday", "account_id": "b"}', Reason.BAD_TIMESTAMP),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": "b", "input_tokens": -5}',
     Reason.OUT_OF_RANGE),
    (b'{"event_id": "a", "timestamp": "2031-01-01T00:00:00Z", "account_id": "b"}',
     Reason.FUTURE_TIMESTAMP),
    (b"{not json", Reason.INVALID_JSON),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": 7}', Reason.WRONG_TYPE),
    (b'{"event_id": "a", "timestamp": "2026-11-02T14:03:11", "account_id": "b"}',
     Reason.BAD_TIMESTAMP),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": "b", "source_ip": "1.2.3"}',
     Reason.WRONG_TYPE),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": "b", '
     b'"params": {"top_logprobs": 21}}', Reason.OUT_OF_RANGE),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": "b", "status_code": 700}',
     Reason.OUT_OF_RANGE),
    (b'{"event_id": "a", "timestamp": 1762092191520, "account_id": "b", '
     b'"params": {"logprobs": 1}}', Reason.WRONG_TYPE),
])
def test_bad_input_gets_its_reason(payload, reason):
    result = parse_event(payload, NOW)
    assert isinstance(result, DeadLetter)
    assert result.reason is reason
    assert result.error  # a message a person can act on


def test_too_large():
    big = raw(event(user_agent="x" * 100, prompt={"text": "y" * (1024 * 1024)}))
    result = parse_event(big, NOW)
    assert isinstance(result, DeadLetter) and result.reason is Reason.TOO_LARGE


def test_both_timestamp_forms_and_unknown_fields():
    a = parse_event(raw({"event_id": "1", "timestamp": "2026-11-02T14:03:11.520Z",
                         "account_id": "acme", "brand_new_field": {"x": 1}}), NOW)
    b = parse_event(raw({"event_id": "2", "timestamp": 1793628191520, "account_id": "acme"}), NOW)
    c = parse_event(raw({"event_id": "3", "timestamp": "2026-11-02T15:03:11.520+01:00",
                         "account_id": "acme"}), NOW)
    assert a.ts == pytest.approx(1793628191.52)
    assert b.ts == pytest.approx(1793628191.52)
    assert c.ts == a.ts


def test_contract_examples_are_valid():
    example = {"event_id": "req_01JD3K7Q2M", "timestamp": "2026-11-02T14:03:11.520Z",
               "account_id": "acme-corp", "api_key_id": "key_7f3a", "user_id": "u-1842",
               "source_ip": "198.51.100.23", "asn": 64500, "country": "DE",
               "user_agent": "openai-python/1.54.3", "endpoint": "/v1/chat/completions",
               "model": "large-2", "status_code": 200, "latency_ms": 2311.4, "input_tokens": 412,
               "output_tokens": 388, "finish_reason": "stop",
               "params": {"temperature": 0.7, "max_tokens": 1024, "stream": True},
               "prompt": {"text": "Can you tighten this paragraph?", "sha256": "5d" * 32,
                          "simhash": "8f3a0c5d9e1b2270", "chars": 612, "messages": 3}}
    ev = parse_event(raw(example), NOW)
    assert not isinstance(ev, DeadLetter), ev
    assert ev.params.stream is True and ev.prompt.messages == 3
