"""Every OTLP/Zipkin/SDK payload captured from the real libraries (../shared/real-payloads) is
scored by `distillguard score --format ...` with an account attribute configured: one event per
request, counted here from the file's own content, and no dead letter but the expected kind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from distillguard.stream.cli import main
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PAYLOADS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-payloads"
FORMATS = {".otlp.json": "otlp-json", ".otlp.perspan.jsonl": "otlp-json", ".otlp.pb": "otlp-proto",
           ".zipkin.json": "zipkin-json", ".sdk_to_json.jsonl": "otlp-json"}
# The OpenAI instrumentation's spans carry no account: the service is the account here. The
# LiteLLM proxy's carry the key's org and owner: configured by environment, org first.
LITELLM_ACCOUNTS = ("litellm.metadata.user_api_key_org_id,metadata.user_api_key_org_id,"
                    "litellm.metadata.user_api_key_user_id,metadata.user_api_key_user_id")


def files() -> list[Path]:
    if not PAYLOADS.is_dir():
        return []
    return sorted(p for p in PAYLOADS.glob("*/*") if any(p.name.endswith(s) for s in FORMATS))


def fmt_of(path: Path) -> str:
    return next(f for s, f in FORMATS.items() if path.name.endswith(s))


def spans_in(path: Path) -> list[tuple[str, dict]]:
    """(trace id, flat attributes) of every span, read independently of distillguard's decoders."""
    if path.name.endswith(".pb"):
        docs = [json_format.MessageToDict(ExportTraceServiceRequest.FromString(path.read_bytes()))]
    else:
        docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = []
    for doc in docs:
        for item in doc if isinstance(doc, list) else [doc]:
            if "tags" in item:  # zipkin
                out.append((item["traceId"], item["tags"]))
            elif "context" in item:  # SDK to_json
                out.append((item["context"]["trace_id"], item["attributes"]))
            else:
                for rs in item["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            attrs = {a["key"]: a["value"] for a in s.get("attributes", [])}
                            out.append((s["traceId"], attrs))
    return out


def requests_in(path: Path) -> set[str]:
    """A request is a trace with a span naming a GenAI operation; these captures have one model
    call per trace (every client call was its own request)."""
    return {trace for trace, attrs in spans_in(path) if "gen_ai.operation.name" in attrs}


def attribute_values(path: Path, names: list[str]) -> set[str]:
    """Every value the file's spans carry under these attribute names."""
    found = set()
    for _, attrs in spans_in(path):
        for name in names:
            value = attrs.get(name)
            value = value.get("stringValue") if isinstance(value, dict) else value
            if value:
                found.add(str(value))
    return found


@pytest.mark.skipif(not files(), reason=f"no captured payloads at {PAYLOADS}")
@pytest.mark.parametrize("path", files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_payload_scores_one_event_per_request(path: Path, tmp_path: Path):
    fmt = fmt_of(path)
    out, dlq = tmp_path / "scores.csv", tmp_path / "dlq.jsonl"
    args = ["score", str(path), "--format", fmt, "--out", str(out), "--dlq", str(dlq), "--quiet"]
    env = {}
    if path.parent.name == "otel":
        args += ["--account-attribute", "service.name"]
    else:
        env["DISTILLGUARD_ACCOUNT_ATTRIBUTES"] = LITELLM_ACCOUNTS
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    requests = requests_in(path)
    summary = result.output
    scored = int(summary.split("scored ")[1].split(" events")[0])
    dead = [json.loads(line) for line in dlq.read_text().splitlines()] if dlq.exists() else []
    assert requests, "a capture without GenAI spans?"
    # Every request is either scored once or a dead letter a user would expect: a span without
    # any of the configured account attributes (LiteLLM's rejected bad-key request), whose reason
    # says what to configure.
    for d in dead:
        assert d["reason"] == "missing_account", d
        assert "--account-attribute" in d["error"] and "DISTILLGUARD_ACCOUNT_ATTRIBUTES" in d["error"]
    assert scored + len(dead) == len(requests), summary
    assert len(dead) <= 1, summary
    spans = spans_in(path)
    skipped_spans = len(spans) - sum("gen_ai.operation.name" in a for _, a in spans)
    if skipped_spans:
        assert f"{skipped_spans} not_genai" in summary, summary
    accounts = {row["account_id"] for row in csv.DictReader(out.open())}
    if path.parent.name == "otel":
        assert accounts == {"customer-chatbot"}
    else:
        assert accounts and accounts <= attribute_values(path, LITELLM_ACCOUNTS.split(",")), accounts


KAFKA_CASES = ("otel/openai_v2_2.4b0.otlp.pb", "litellm/proxy_otel_v2.otlp.perspan.jsonl")


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.skipif(not all((PAYLOADS / c).exists() for c in KAFKA_CASES), reason="no captures")
def test_collector_kafka_encodings_through_a_running_worker(kafka_broker, postgres_url, tmp_path):
    """What a Collector's kafka exporter sends: one `otlp_proto` batch per message on the input
    topic (DISTILLGUARD_INPUT_FORMAT) and `otlp_json` per-span messages on an extra input topic
    (DISTILLGUARD_EXTRA_INPUTS), unkeyed, as the exporter does not key by account."""
    import uuid

    from kafka import KafkaProducer

    from tests.integration.test_kafka_e2e import wait_sql
    from tests.integration.worker_proc import WorkerProcess

    spans_topic = f"e2e-{uuid.uuid4().hex[:8]}-otel-spans"
    names = "litellm.metadata.user_api_key_org_id,litellm.metadata.user_api_key_user_id,service.name"
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path, score_every="1",
                           input_format="otlp-proto", extra_inputs=f"{spans_topic}=otlp-json",
                           account_attributes=names)
    worker.start()
    try:
        pb, perspan = (PAYLOADS / c for c in KAFKA_CASES)
        producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
        producer.send(worker.input_topic, value=pb.read_bytes())
        lines = [line for line in perspan.read_bytes().splitlines() if line.strip()]
        for line in lines:
            producer.send(spans_topic, value=line)
        producer.flush()
        producer.close()
        expected = len(requests_in(pb)) + len(requests_in(perspan))
        m = worker.wait_for(lambda m: m["distillguard_events_consumed_total"] >= 1 + len(lines)
                            and m["distillguard_events_scored_total"] >= expected,
                            what="every model call scored")
        assert m["distillguard_events_scored_total"] == expected
        assert sum(v for k, v in m.items() if k.startswith("distillguard_events_dead_lettered_total")) == 0
        not_genai = len(lines) - len(requests_in(perspan))  # one span per line
        assert m["distillguard_spans_skipped_total{reason=not_genai}"] == not_genai
        accounts = attribute_values(perspan, names.split(",")[:2]) | {"customer-chatbot"}
        rows = wait_sql(postgres_url, "SELECT account_id, seq FROM account_risk",
                        lambda r: sum(x.seq for x in r) == expected)
        assert {r.account_id for r in rows} <= accounts and len(rows) >= 2
    finally:
        worker.stop()
