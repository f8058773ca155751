"""LiteLLM proxy's StandardLoggingPayload -> contract-shaped dicts (the `litellm` format).

Moved here from the old adapters module; the LiteLLM integration replaces the mapping's
internals. A generic API logger body (a JSON array of payloads) maps element by element.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def litellm_records(obj: object) -> list[dict]:
    """Contract-shaped dicts of one decoded JSON document: a payload or an array of them.
    An element that is not a payload is returned as-is, so validation names what is missing."""
    items = obj if isinstance(obj, list) else [obj]
    out = []
    for item in items:
        mapped = from_litellm(item) if isinstance(item, dict) else None
        out.append(mapped if mapped is not None else item)
    return out


def _drop_none(d: JSON) -> JSON:
    return {k: v for k, v in d.items() if v is not None and v != {}}


def _count(value: Any) -> Any:
    """Contract counts (`tools`, `logit_bias`) arrive as lists/dicts in raw request params."""
    return len(value) if isinstance(value, list | dict) else value


def from_litellm(obj: JSON) -> JSON | None:
    """LiteLLM proxy's StandardLoggingPayload."""
    if "startTime" not in obj or "id" not in obj or "model" not in obj:
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    params = obj.get("model_parameters") if isinstance(obj.get("model_parameters"), dict) else {}
    start = obj.get("startTime")
    timestamp = round(start * 1000) if isinstance(start, int | float) else start
    status = obj.get("status")
    status_code = {"success": 200, "failure": 500}.get(status) if isinstance(status, str) else None
    messages = obj.get("messages")
    return _drop_none({
        "event_id": obj.get("id"),
        "timestamp": timestamp,
        "account_id": meta.get("user_api_key_org_id") or meta.get("user_api_key_team_id")
        or meta.get("user_api_key_user_id"),
        "api_key_id": meta.get("user_api_key_hash"),
        "user_id": meta.get("user_api_key_user_id") or obj.get("end_user") or None,
        "source_ip": obj.get("requester_ip_address") or None,
        "model": obj.get("model"),
        "status_code": status_code,
        "input_tokens": obj.get("prompt_tokens"),
        "output_tokens": obj.get("completion_tokens"),
        "params": _drop_none({
            key: _count(params.get(key))
            for key in ("temperature", "top_p", "max_tokens", "n", "logprobs", "top_logprobs",
                        "logit_bias", "stream", "seed", "tools")
        }),
        "prompt": _drop_none({"messages": len(messages) if isinstance(messages, list) else None}),
    })
