"""Map other producers' log shapes onto the contract before validation.

Only called when an event fails the contract as it stands, so contract events pay nothing.
Each adapter returns a contract-shaped dict, or None when the shape is not its own.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def adapt(obj: JSON) -> JSON | None:
    """The contract form of `obj` if an adapter recognises its shape, else None."""
    for adapter in (from_opentelemetry, from_litellm):
        adapted = adapter(obj)
        if adapted is not None:
            return adapted
    return None


def _drop_none(d: JSON) -> JSON:
    return {k: v for k, v in d.items() if v is not None and v != {}}


def _count(value: Any) -> Any:
    """Contract counts (`tools`, `logit_bias`) arrive as lists/dicts in raw request params."""
    return len(value) if isinstance(value, list | dict) else value


def from_opentelemetry(obj: JSON) -> JSON | None:
    """OpenTelemetry GenAI semantic conventions: a span/log record or a flat attribute map."""
    attrs = obj.get("attributes") if isinstance(obj.get("attributes"), dict) else obj
    if not any(isinstance(k, str) and k.startswith("gen_ai.") for k in attrs):
        return None
    resource = obj.get("resource", {}).get("attributes", {}) if isinstance(
        obj.get("resource"), dict) else {}

    def first(*keys: str) -> Any:
        for key in keys:
            for source in (attrs, obj, resource):
                if isinstance(source, dict) and source.get(key) is not None:
                    return source[key]
        return None

    nanos = first("startTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")
    timestamp = first("timestamp")
    if timestamp is None and nanos is not None:
        timestamp = int(nanos) // 1_000_000 if str(nanos).isdigit() else nanos
    finish = first("gen_ai.response.finish_reasons")
    return _drop_none({
        "event_id": first("event_id", "gen_ai.response.id", "spanId", "span_id"),
        "timestamp": timestamp,
        "account_id": first("account_id", "gen_ai.account.id", "tenant.id", "enduser.id"),
        "api_key_id": first("api_key_id"),
        "user_id": first("user_id", "user.id"),
        "source_ip": first("client.address"),
        "user_agent": first("user_agent.original"),
        "endpoint": first("url.path"),
        "model": first("gen_ai.request.model", "gen_ai.response.model"),
        "status_code": first("http.response.status_code"),
        "input_tokens": first("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        "output_tokens": first("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        "finish_reason": finish[0] if isinstance(finish, list) and finish else finish,
        "params": _drop_none({
            "temperature": first("gen_ai.request.temperature"),
            "max_tokens": first("gen_ai.request.max_tokens"),
            "top_p": first("gen_ai.request.top_p"),
            "seed": first("gen_ai.request.seed"),
        }),
    })


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
