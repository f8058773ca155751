"""LiteLLM's StandardLoggingPayload (SLP) -> contract events: ONE mapping for files, topics and the
proxy callback (stream/gateways/litellm_callback.py), so a request scores the same either way.

The account comes from a rule (`AccountRule`, DISTILLGUARD_LITELLM_ACCOUNT_RULE): the first
identity present among org > team > key owner (user) > end user by default. A proxy run with only
a master key stamps every request `default_user_id`; that is not an account, so such requests fall
through to the end user (`user` of the request) or are dead-lettered with a reason that says what
to configure, instead of all traffic landing in one account.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from distillguard.models.simhash import prompt_sha256, simhash64

JSON = dict[str, Any]
# A record that cannot become an event carries its dead-letter message under this key (and no
# account_id); callers turn it into a DeadLetter instead of a generic "missing account_id".
DEAD_LETTER_KEY = "_dead_letter"
MASTER_KEY_MARKERS = {"default_user_id", "litellm_proxy_master_key"}
SOURCES = ("org", "team", "user", "end_user", "key")
CALL_TYPE_PATHS = {
    "completion": "/v1/chat/completions", "acompletion": "/v1/chat/completions",
    "text_completion": "/v1/completions", "atext_completion": "/v1/completions",
    "embedding": "/v1/embeddings", "aembedding": "/v1/embeddings",
    "image_generation": "/v1/images/generations", "aimage_generation": "/v1/images/generations",
    "moderation": "/v1/moderations", "amoderation": "/v1/moderations",
    "transcription": "/v1/audio/transcriptions", "atranscription": "/v1/audio/transcriptions",
    "speech": "/v1/audio/speech", "aspeech": "/v1/audio/speech",
    "responses": "/v1/responses", "aresponses": "/v1/responses",
    "rerank": "/v1/rerank", "arerank": "/v1/rerank",
    "anthropic_messages": "/v1/messages",
}


@dataclass(frozen=True)
class AccountRule:
    """Which identity is the account: the first present of `order` (org, team, user, end_user,
    key, or `static:NAME` as a last resort for a single-tenant SDK)."""

    order: tuple[str, ...] = ("org", "team", "user", "end_user")

    @classmethod
    def parse(cls, text: str) -> AccountRule:
        order = tuple(part.strip() for part in text.split(",") if part.strip())
        for part in order:
            if part not in SOURCES and not (part.startswith("static:") and len(part) > 7):
                raise ValueError(f"DISTILLGUARD_LITELLM_ACCOUNT_RULE: unknown source {part!r}; "
                                 f"use a comma-separated list of {', '.join(SOURCES)}, static:NAME")
        if not order:
            raise ValueError("DISTILLGUARD_LITELLM_ACCOUNT_RULE is empty")
        return cls(order)

    @classmethod
    def from_env(cls) -> AccountRule:
        return cls.parse(os.environ.get("DISTILLGUARD_LITELLM_ACCOUNT_RULE", "org,team,user,end_user"))


def litellm_records(obj: object, rule: AccountRule | None = None,
                    include_text: bool = False) -> list[JSON]:
    """Contract dicts for one SLP, or for each element of a JSON array body (generic API logger).
    An ndjson body is split into lines by the caller. Non-SLP elements give a dead-letter record."""
    rule = rule or AccountRule.from_env()
    items = obj if isinstance(obj, list) else [obj]
    out = []
    for item in items:
        if isinstance(item, dict) and is_slp(item):
            out.append(slp_to_contract(item, rule, include_text))
        else:
            out.append({DEAD_LETTER_KEY: "litellm: not a StandardLoggingPayload "
                        "(expected an object with id, startTime and model)"})
    return out


def from_litellm(obj: JSON) -> JSON | None:
    """The old adapter's interface (one SLP -> contract dict, None if not an SLP), same mapping."""
    if not isinstance(obj, dict) or not is_slp(obj):
        return None
    record = slp_to_contract(obj, AccountRule.from_env(), include_text=False)
    record.pop(DEAD_LETTER_KEY, None)
    return record


def is_slp(obj: JSON) -> bool:
    return "startTime" in obj and "id" in obj and "model" in obj


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def first_address(value: Any) -> str | None:
    """The client of a forwarded-for chain ("203.0.113.9, 10.0.0.2" -> 203.0.113.9); None if invalid."""
    if not isinstance(value, str):
        return None
    head = value.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(head))
    except ValueError:
        return None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict)
                         and isinstance(p.get("text"), str))
    return ""


def prompt_fields(messages: Any, include_text: bool) -> JSON:
    """Hashes of the conversation (system prompt hashed apart), computed where the text is."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        return {}
    turns = [m for m in messages if isinstance(m, dict)]
    system = "\n".join(_content_text(m.get("content")) for m in turns if m.get("role") == "system")
    text = "\n".join(_content_text(m.get("content")) for m in turns if m.get("role") != "system")
    prompt: JSON = {"messages": sum(1 for m in turns if m.get("role") != "system")}
    if text:
        prompt.update(sha256=prompt_sha256(text),
                      simhash=f"{simhash64(text):016x}", chars=len(text))
        if include_text:
            prompt["text"] = text
    if system:
        prompt["system_sha256"] = prompt_sha256(system)
    return prompt


def _identities(slp: JSON) -> JSON:
    meta = _dict(slp.get("metadata"))
    params = _dict(slp.get("model_parameters"))
    user = _str(meta.get("user_api_key_user_id"))
    key = _str(meta.get("user_api_key_hash"))
    master = (user in MASTER_KEY_MARKERS or key in MASTER_KEY_MARKERS
              or _str(meta.get("user_api_key_alias")) in MASTER_KEY_MARKERS)
    return {
        "org": _str(meta.get("user_api_key_org_id")),
        "team": _str(meta.get("user_api_key_team_id")),
        "user": None if master else user,
        "end_user": _str(slp.get("end_user")) or _str(meta.get("user_api_key_end_user_id"))
        or _str(params.get("user")),
        "key": None if master else key,
        "master": master,
    }


def account_for(ids: JSON, rule: AccountRule) -> tuple[str | None, str | None]:
    """(account, which source gave it) from identities keyed by SOURCES (+ master)."""
    for source in rule.order:
        if source.startswith("static:"):
            return source[7:], source
        if ids.get(source):
            return ids[source], source
    return None, None


def _no_account_reason(ids: JSON, rule: AccountRule, slp: JSON) -> str:
    wanted = ",".join(rule.order)
    if ids["master"]:
        return ("litellm: master-key request without an end user: the proxy's master key "
                "(default_user_id) is not an account; give each client a virtual key with a "
                "team/org, or have clients pass `user`, or add `static:NAME` to "
                f"DISTILLGUARD_LITELLM_ACCOUNT_RULE (now {wanted})")
    if slp.get("status") == "failure" and not any(ids[k] for k in ("org", "team", "user")):
        return "litellm: request rejected before authentication: no account (nothing to score)"
    return (f"litellm: no account: none of {wanted} is present (an SDK call without proxy auth or "
            "`user`?); set DISTILLGUARD_LITELLM_ACCOUNT_RULE, e.g. add key or static:NAME")


def _status_code(slp: JSON) -> int | None:
    error = _dict(slp.get("error_information"))
    code = error.get("error_code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and 100 <= code <= 599:
        return code
    status = slp.get("status")
    return {"success": 200, "failure": 500}.get(status) if isinstance(status, str) else None


def _usage_detail(slp: JSON, name: str) -> Any:
    usage = _dict(_dict(slp.get("metadata")).get("usage_object")) or _dict(
        _dict(slp.get("response")).get("usage"))
    return _dict(usage.get("completion_tokens_details")).get(name)


def _finish_reason(slp: JSON) -> str | None:
    choices = _dict(slp.get("response")).get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return _str(choices[0].get("finish_reason"))
    return None


def _count(value: Any) -> Any:
    """Contract counts (`tools`, `logit_bias`) arrive as lists/dicts in raw request params."""
    return len(value) if isinstance(value, list | dict) else value


def params_fields(params: JSON) -> JSON:
    fmt = params.get("response_format")
    out = {
        "temperature": params.get("temperature"), "top_p": params.get("top_p"),
        "max_tokens": params.get("max_tokens", params.get("max_completion_tokens")),
        "n": params.get("n"), "logprobs": params.get("logprobs"),
        "top_logprobs": params.get("top_logprobs"), "logit_bias": _count(params.get("logit_bias")),
        "stream": params.get("stream"), "seed": params.get("seed"),
        "tools": _count(params.get("tools")),
        "response_format": _dict(fmt).get("type") if isinstance(fmt, dict) else fmt,
    }
    return _drop_none(out)


def _drop_none(d: JSON) -> JSON:
    return {k: v for k, v in d.items() if v is not None and v != {}}


def slp_to_contract(slp: dict, rule: AccountRule, include_text: bool) -> dict:
    """One SLP as a contract dict; without an account, a record with DEAD_LETTER_KEY instead."""
    meta = _dict(slp.get("metadata"))
    ids = _identities(slp)
    account, source = account_for(ids, rule)
    start, end = slp.get("startTime"), slp.get("endTime")
    numeric = isinstance(start, int | float) and isinstance(end, int | float)
    latency = round((end - start) * 1000, 3) if numeric and end >= start else None
    # The identity finer than the account: the key owner inside an org/team, else the end user.
    user_id = ids["user"] if source in ("org", "team") and ids["user"] else ids["end_user"]
    event = _drop_none({
        "event_id": _str(slp.get("id")) or _str(slp.get("litellm_call_id")),
        "timestamp": round(start * 1000) if isinstance(start, int | float) else start,
        "account_id": account,
        "api_key_id": _str(meta.get("user_api_key_hash")),
        "user_id": user_id if user_id != account else None,
        "source_ip": first_address(slp.get("requester_ip_address")
                                   or meta.get("requester_ip_address")),
        "user_agent": (_str(slp.get("user_agent")) or _str(meta.get("user_agent")) or "")[:1024]
        or None,
        "endpoint": _str(meta.get("user_api_key_request_route"))
        or CALL_TYPE_PATHS.get(slp.get("call_type")),
        "model": _str(slp.get("model_group")) or _str(slp.get("model")),
        "status_code": _status_code(slp),
        "latency_ms": latency,
        "input_tokens": slp.get("prompt_tokens"),
        "output_tokens": slp.get("completion_tokens"),
        "reasoning_tokens": _usage_detail(slp, "reasoning_tokens") or None,
        "finish_reason": _finish_reason(slp),
        "params": params_fields(_dict(slp.get("model_parameters"))),
        "prompt": prompt_fields(slp.get("messages"), include_text),
    })
    if account is None:
        event[DEAD_LETTER_KEY] = _no_account_reason(ids, rule, slp)
    return event


def parse_litellm(raw: bytes, now: float) -> list[Any]:
    """Bytes of one SLP, a JSON array body or an ndjson body -> [Event | DeadLetter]: the
    declared `litellm` format of stream/intake/formats.py, events first."""
    from distillguard.stream.intake.formats import Format, decode_message

    decoded = decode_message(raw, Format.LITELLM, now)
    return [*decoded.events, *decoded.dead]
