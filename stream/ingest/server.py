"""POST /v1/traces as OTLP/HTTP specifies it (what the Collector's `otlphttp` exporter and the
SDK's `OTLPSpanExporter` send): protobuf or JSON bodies, optionally gzip-compressed.

Answers: 200 with an `ExportTraceServiceResponse` in the request's encoding (`partial_success`
counts the model-call spans that could not become events, e.g. no account attribute); 400 for a
body that is not OTLP (not retryable); 401/403 without an `ingest` token; 413 for a body over
the limit; 415 for another content type; 503 with Retry-After when the bounded producer buffer
is full or Kafka does not acknowledge (retryable). Spans that are not model calls are accepted
and counted as skipped: they are not an error of the sender.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib

import msgspec
from aiohttp import web
from distillguard.sinks.metrics import IngestMetrics
from distillguard.stream.ingest.producer import Backpressure, EventProducer
from distillguard.stream.ingest.tokens import TokenCheck
from distillguard.stream.intake.formats import decode_spans
from distillguard.stream.intake.otlp import spans_from_otlp_json, spans_from_request
from distillguard.stream.intake.spans import SpanFormatError
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

log = logging.getLogger("distillguard.ingest")
PROTOBUF, JSON = "application/x-protobuf", "application/json"
_any = msgspec.json.Decoder()


def _answer(status: int, text: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(status=status, text=text, headers=headers)


def _body(raw: bytes, encoding: str, limit: int) -> bytes:
    if encoding not in ("", "identity", "gzip"):
        raise ValueError(f"Content-Encoding {encoding!r} is not supported (gzip or none)")
    if encoding == "gzip" and raw[:2] == b"\x1f\x8b":  # aiohttp may have inflated it already
        raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit + 1)
    if len(raw) > limit:
        raise OverflowError
    return raw


def _response(content_type: str, rejected: int, message: str) -> web.Response:
    reply = ExportTraceServiceResponse()
    if rejected:
        reply.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected,
                                                                 error_message=message))
    if content_type == PROTOBUF:
        return web.Response(body=reply.SerializeToString(), content_type=PROTOBUF)
    return web.Response(text=json_format.MessageToJson(reply, indent=None), content_type=JSON)


def create_app(producer: EventProducer, tokens: TokenCheck | None,
               account_attributes: tuple[str, ...], max_body_bytes: int,
               metrics: IngestMetrics | None = None) -> web.Application:
    """`tokens=None` disables authentication (tests of the decoding only)."""
    metrics = metrics or IngestMetrics()

    async def traces(request: web.Request) -> web.Response:
        response = await _traces(request)
        metrics.requests.labels(code=str(response.status)).inc()
        return response

    async def _traces(request: web.Request) -> web.Response:
        if tokens is not None:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return _answer(401, "missing bearer token (a token with the ingest scope)")
            if not await tokens.allows(auth.removeprefix("Bearer ").strip()):
                return _answer(403, "token unknown, revoked, or without the ingest scope")
        content_type = request.content_type
        if content_type not in (PROTOBUF, JSON):
            return _answer(415, f"Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")
        try:
            raw = _body(await request.read(), request.headers.get("Content-Encoding", "").lower(),
                        max_body_bytes)
            if content_type == PROTOBUF:
                spans = spans_from_request(ExportTraceServiceRequest.FromString(raw))
            else:
                spans = spans_from_otlp_json(_any.decode(raw))
        except OverflowError:
            return _answer(413, f"body over {max_body_bytes} bytes")
        except (DecodeError, msgspec.DecodeError, SpanFormatError, ValueError, zlib.error,
                gzip.BadGzipFile) as err:
            return _answer(400, f"not an OTLP ExportTraceServiceRequest: {err}")
        decoded = decode_spans(spans, time.time(), account_attributes,
                               origin="otlp-proto" if content_type == PROTOBUF else "otlp-json")
        for reason, n in decoded.skipped.items():
            metrics.skipped.labels(reason=reason).inc(n)
        for dead in decoded.dead:
            metrics.rejected.labels(reason=dead.reason.value).inc()
        try:
            await producer.send(decoded.events)
        except Backpressure as err:
            return _answer(503, str(err), retry_after=err.retry_after)
        except Exception as err:  # broker unreachable, timeout: the exporter retries
            log.warning("produce failed: %s", err)
            return _answer(503, "Kafka did not acknowledge the events", retry_after=5)
        metrics.events.inc(len(decoded.events))
        message = decoded.dead[0].error if decoded.dead else ""
        return _response(content_type, len(decoded.dead), message)

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post("/v1/traces", traces)
    return app


def add_metrics_route(app: web.Application, metrics: IngestMetrics) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", scrape)


def serve(settings, account_attributes: tuple[str, ...]) -> None:
    """Run until interrupted: producer started first, so the first request can be answered."""
    producer = EventProducer(settings.broker, settings.input_topic, settings.ingest_max_pending)
    tokens = TokenCheck(settings.database_url)
    metrics = IngestMetrics()
    app = create_app(producer, tokens, account_attributes, settings.ingest_max_body_bytes, metrics)
    add_metrics_route(app, metrics)

    async def lifecycle(_app: web.Application):
        await producer.start()
        yield
        await producer.stop()
        tokens.close()

    app.cleanup_ctx.append(lifecycle)
    # Decompression is bounded by ingest_max_body_bytes: client_max_size applies to what
    # request.read() returns, and _body() caps what it inflates itself.
    web.run_app(app, host=settings.ingest_host, port=settings.ingest_port, print=None,
                access_log=None)
