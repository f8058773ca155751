"""OTLP/HTTP end to end: the real SDK exporter -> `distillguard ingest` -> the real broker -> a
running worker -> PostgreSQL rows; and the receiver's answers (auth, partial success, 400, 503)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from distillguard.sinks.migrate import upgrade
from distillguard.stream.api.auth import create_token
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.integration.test_kafka_e2e import wait_sql
from tests.integration.worker_proc import WorkerProcess, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ACCOUNT_ATTRIBUTE = "tenant.id"


class IngestProcess:
    def __init__(self, broker: str, database_url: str, topic: str, tmp: Path, **settings: str):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
        env.update({"DISTILLGUARD_BROKER": broker, "DISTILLGUARD_DATABASE_URL": database_url,
                    "DISTILLGUARD_INPUT_TOPIC": topic, "DISTILLGUARD_INGEST_PORT": str(self.port),
                    "DISTILLGUARD_ACCOUNT_ATTRIBUTES": ACCOUNT_ATTRIBUTE,
                    "DISTILLGUARD_LOG_LEVEL": "warning",
                    **{f"DISTILLGUARD_{k.upper()}": v for k, v in settings.items()}})
        self.log_path = tmp / f"ingest-{self.port}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "distillguard.stream.cli", "ingest"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(self.log_path.read_text())

    def post(self, body: bytes, token: str | None, content_type: str = "application/json",
             gzipped: bool = False):
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if gzipped:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def genai_json(span_id: str, tenant: str | None) -> bytes:
    attrs = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
             {"key": "gen_ai.request.model", "value": {"stringValue": "m"}}]
    if tenant:
        attrs.append({"key": ACCOUNT_ATTRIBUTE, "value": {"stringValue": tenant}})
    start = time.time_ns()
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": span_id, "name": "chat m", "kind": 3,
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 10**6),
         "attributes": attrs}]}]}]}).encode()


@pytest.fixture
def tokens(postgres_url):
    upgrade(postgres_url)
    engine = sa.create_engine(postgres_url)
    try:
        yield (create_token(engine, "otel-exporter", ["ingest"]),
               create_token(engine, "billing", ["risk:read"]))
    finally:
        engine.dispose()


def test_sdk_exporter_through_receiver_and_worker_to_postgres(kafka_broker, postgres_url, tokens, tmp_path):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    ingest_token, billing_token = tokens
    worker = WorkerProcess(kafka_broker, postgres_url, tmp_path, score_every="1")
    worker.start()
    ingest = IngestProcess(kafka_broker, postgres_url, worker.input_topic, tmp_path)
    try:
        exporter = OTLPSpanExporter(endpoint=ingest.url, compression=Compression.Gzip,
                                    headers={"Authorization": f"Bearer {ingest_token}"})
        provider = TracerProvider(resource=Resource({"service.name": "chatbot",
                                                     ACCOUNT_ATTRIBUTE: "otlp-acme"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        calls = 12
        for i in range(calls):
            with (tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER),  # not GenAI
                  tracer.start_as_current_span("chat large-2", kind=SpanKind.CLIENT) as span):
                span.set_attributes({
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "large-2",
                    "gen_ai.response.id": f"resp-{i}", "gen_ai.usage.input_tokens": 20,
                    "gen_ai.usage.output_tokens": 1, "gen_ai.request.max_tokens": 1,
                    "gen_ai.request.temperature": 0.0,
                    **({ACCOUNT_ATTRIBUTE: "otlp-beta"} if i % 4 == 0 else {})})
        assert provider.force_flush(30_000)
        provider.shutdown()

        m = worker.wait_for(lambda m: m["distillguard_events_scored_total"] >= calls,
                            what="every exported call scored")
        time.sleep(2)
        m = worker.metrics()
        assert m["distillguard_events_scored_total"] == calls  # one event per call, no span twice
        assert sum(v for k, v in m.items() if k.startswith("distillguard_events_dead_lettered_total")) == 0
        # seq = events folded into the account's profile (score_every=1: a row per event)
        rows = wait_sql(postgres_url, "SELECT account_id, seq FROM account_risk",
                        lambda r: {x.account_id: x.seq for x in r} == {"otlp-acme": 9, "otlp-beta": 3})
        assert len(rows) == 2
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{ingest.port}/metrics").read().decode()
        assert 'distillguard_spans_skipped_total{reason="not_genai"} 12.0' in metrics

        # the receiver's answers, as OTLP expects them
        assert ingest.post(genai_json("01" * 8, "t"), None)[0] == 401
        assert ingest.post(genai_json("01" * 8, "t"), billing_token)[0] == 403
        status, _, body = ingest.post(genai_json("02" * 8, None), ingest_token, gzipped=True)
        reply = json.loads(body)
        assert status == 200 and reply["partialSuccess"]["rejectedSpans"] == "1"
        assert ACCOUNT_ATTRIBUTE in reply["partialSuccess"]["errorMessage"]
        assert ingest.post(b"\xff\xfe garbage", ingest_token, "application/x-protobuf")[0] == 400
        status, _, body = ingest.post(b"", ingest_token, "application/x-protobuf")
        assert status == 200 and ExportTraceServiceResponse.FromString(body) == ExportTraceServiceResponse()
        assert ingest.post(b"{}", ingest_token, "text/plain")[0] == 415
    finally:
        ingest.stop()
        worker.stop()


def test_full_buffer_answers_503_with_retry_after(kafka_broker, postgres_url, tokens, tmp_path):
    ingest_token, _ = tokens
    ingest = IngestProcess(kafka_broker, postgres_url, f"ingest-bp-{time.time_ns()}", tmp_path,
                           ingest_max_pending="0")
    try:
        status, headers, _ = ingest.post(genai_json("03" * 8, "t"), ingest_token)
        assert status == 503 and int(headers["Retry-After"]) >= 1
    finally:
        ingest.stop()
