"""GenAI spans -> contract records: which spans are model calls, one record per call.

The rule (one request = one record):

1. A span is a GenAI operation if it carries `gen_ai.operation.name` (semantic conventions since
   v1.27, and LiteLLM's own spans, which put the call type there: `acompletion`), or, for the
   previous conventions that had no operation name, both `gen_ai.system` and
   `gen_ai.request.model`. Every other span (HTTP server spans, FastAPI internals, LiteLLM's
   `route`/`auth` spans that only carry `gen_ai.request.model`) is skipped as `not_genai`.
2. Operations that are not model calls (`execute_tool`, `invoke_agent`, `create_agent`) wrap or
   follow model calls: counting them would count a call twice. Skipped as `not_model_call`.
3. A call's identity, its `event_id`, is `litellm.call_id` if present (LiteLLM stamps it on every
   span of one proxy request), else `gen_ai.response.id`, else `<traceId>-<spanId>`. Spans of one
   message with the same identity are one call: the CLIENT span is kept (the span around the
   provider request), else the one with the most `gen_ai.*` attributes; the others are skipped as
   `duplicate_span`. Across messages (one span per Kafka message) the same `event_id` makes the
   engine count the call once.

The account is the first configured attribute present (non-empty) on the span, then on its
resource, for each name in order; without one the span is a `missing_account` dead letter
whose reason lists the names tried.
"""

from __future__ import annotations

import re
from typing import Any

from distillguard.stream.intake.spans import KINDS, STATUS_ERROR, Span

DEFAULT_ACCOUNT_ATTRIBUTES = (
    "tenant.id", "gen_ai.account.id",
    # LiteLLM proxy: org > team > key owner (v2 OTel package, then the default `otel` callback)
    "litellm.metadata.user_api_key_org_id", "litellm.team.id",
    "litellm.metadata.user_api_key_user_id",
    "metadata.user_api_key_org_id", "metadata.user_api_key_team_id",
    "metadata.user_api_key_user_id",
    "enduser.id", "user.id",
)
NOT_MODEL_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent"})
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_ERROR_CODE = re.compile(r"Error code: (\d{3})")


def classify(span: Span) -> str | None:
    """None for a model-call span, else the skip reason."""
    a = span.attributes
    operation = a.get("gen_ai.operation.name")
    if not operation and not (a.get("gen_ai.system") and a.get("gen_ai.request.model")):
        return "not_genai"
    if operation in NOT_MODEL_CALLS:
        return "not_model_call"
    return None


def call_id(span: Span) -> str:
    a = span.attributes
    return str(a.get("litellm.call_id") or a.get("gen_ai.response.id")
               or f"{span.trace_id}-{span.span_id}")


def select_calls(spans: list[Span]) -> tuple[list[Span], dict[str, int]]:
    """The model-call spans, one per call (see the module docstring), and skip counts by reason."""
    skipped: dict[str, int] = {}
    best: dict[str, Span] = {}
    for span in spans:
        reason = classify(span)
        if reason is None:
            key = call_id(span)
            kept = best.get(key)
            if kept is not None:
                skipped["duplicate_span"] = skipped.get("duplicate_span", 0) + 1
                if _rank(span) <= _rank(kept):
                    continue
            best[key] = span
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return list(best.values()), skipped


def _rank(span: Span) -> tuple[bool, int]:
    return span.kind == KINDS["CLIENT"], sum(k.startswith("gen_ai.") for k in span.attributes)


def account_of(span: Span, names: tuple[str, ...]) -> Any:
    for name in names:
        for source in (span.attributes, span.resource):
            value = source.get(name)
            if value not in (None, ""):
                return str(value)
    return None


def _first(span: Span, *names: str) -> Any:
    for name in names:
        value = span.attributes.get(name)
        if value not in (None, ""):
            return value
    return None


def _int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(float(value)) if "." in value or "e" in value else int(value)
        except ValueError:
            return value  # left for validation to name
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _finish(value: Any) -> Any:
    """A list, or LiteLLM's string forms '["stop"]' and "['stop']"."""
    if isinstance(value, list):
        return str(value[0]) if value else None
    if isinstance(value, str) and value.startswith("["):
        match = _QUOTED.search(value)
        return match.group(1) if match else None
    return value


def _status(span: Span) -> Any:
    code = _first(span, "http.response.status_code", "error.code", "litellm.provider.error.code")
    if code is None and span.status_code == STATUS_ERROR:
        match = _ERROR_CODE.search(span.status_message)
        code = match.group(1) if match else None
    code = _int(code)
    return code if isinstance(code, int) and 100 <= code <= 599 else None


def _address(value: Any) -> Any:
    """The first address of a forwarded-for chain ("203.0.113.9, 10.0.0.2")."""
    return value.split(",")[0].strip() if isinstance(value, str) else value


def to_record(span: Span, account: str) -> dict:
    """The contract-shaped dict of a model-call span (validation happens after)."""
    first = span.attributes.get
    latency = ((span.end_ns - span.start_ns) / 1e6
               if span.start_ns is not None and span.end_ns is not None else None)
    record = {
        "event_id": call_id(span),
        "timestamp": span.start_ns // 1_000_000 if span.start_ns is not None else None,
        "account_id": account,
        "api_key_id": _first(span, "litellm.api_key.hash", "metadata.user_api_key_hash"),
        "user_id": _first(span, "enduser.id", "user.id", "litellm.metadata.user_api_key_end_user_id",
                          "metadata.user_api_key_end_user_id"),
        "source_ip": _address(_first(span, "client.address", "litellm.metadata.requester_ip_address",
                                     "metadata.requester_ip_address")),
        "user_agent": _first(span, "user_agent.original", "metadata.user_agent"),
        "endpoint": _first(span, "url.path", "litellm.request.route",
                           "metadata.user_api_key_request_route"),
        "model": _first(span, "gen_ai.request.model", "gen_ai.response.model"),
        "status_code": _status(span),
        "latency_ms": latency,
        "input_tokens": _int(_first(span, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
        "output_tokens": _int(_first(span, "gen_ai.usage.output_tokens",
                                     "gen_ai.usage.completion_tokens")),
        "reasoning_tokens": _int(_first(span, "gen_ai.usage.reasoning_tokens",
                                        "gen_ai.usage.output_tokens.reasoning")),
        "finish_reason": _finish(first("gen_ai.response.finish_reasons")),
    }
    params = {
        "temperature": _float(first("gen_ai.request.temperature")),
        "top_p": _float(first("gen_ai.request.top_p")),
        "max_tokens": _int(first("gen_ai.request.max_tokens")),
        "n": _int(first("gen_ai.request.choice.count")),
        "seed": _int(_first(span, "gen_ai.request.seed", "gen_ai.openai.request.seed")),
        "stream": _bool(_first(span, "gen_ai.request.stream", "llm.is_streaming")),
    }
    record = {k: v for k, v in record.items() if v is not None}
    params = {k: v for k, v in params.items() if v is not None}
    if params:
        record["params"] = params
    return record
