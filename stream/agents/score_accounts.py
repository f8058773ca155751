"""score_accounts: the per-account stage's agent, one task over the records of its topics.

An event is scored where its account lives (the partition its id hashes to); one that arrived
elsewhere is re-keyed first (stream/agents/rekey.py). The stage also takes analyst labels
(apply_feedback) and group verdicts (apply_verdicts) on topics co-partitioned with the input.
Batches are checkpointed by `BatchStage.run_batches`: state and outputs flushed, then acked.
"""

from __future__ import annotations

import asyncio

import msgspec
from distillguard.models.event import Event
from distillguard.stream.agents.apply_feedback import apply_feedback
from distillguard.stream.agents.apply_verdicts import apply_verdicts
from distillguard.stream.agents.rekey import encode_rekeyed, needs_rekey
from distillguard.stream.agents.stage import AccountStage, Handler
from distillguard.stream.batches.sink import BatchSink
from distillguard.stream.intake import Reason

_event_decoder = msgspec.json.Decoder(Event)


async def score_accounts(stage: AccountStage, sink: BatchSink) -> None:
    names = stage.names
    handlers: dict[str, Handler] = {topic: score_input(stage) for topic in stage.formats}
    handlers[names.by_account] = score_rekeyed(stage)
    handlers[names.feedback] = apply_feedback(stage)
    handlers[names.group_verdicts] = apply_verdicts(stage)
    await stage.run_batches(sink, handlers)


def score_input(stage: AccountStage) -> Handler:
    """One message of an input topic: one contract event, or several requests of a declared
    format."""
    parse_all, score = stage.pipeline.parse_all, stage.pipeline.score
    partition_of, send, by_account = stage.partition_of, stage.checkpoint.send, stage.names.by_account
    formats = stage.formats

    def handle(record):
        raw = record.value or b""
        source = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        events = parse_all(raw, source, formats.get(record.topic))
        sends = []
        for ev in events:
            if needs_rekey(ev, record, partition_of):
                key = ev.account_id.encode()
                sends.append(send(by_account, key, encode_rekeyed(ev), partition_of(key)))
            elif len(events) == 1:
                score(ev, raw, source)  # a scoring error dead-letters the original bytes
            else:
                score(ev, None, source)
        return sends[0] if len(sends) == 1 else asyncio.gather(*sends) if sends else None

    return handle


def score_rekeyed(stage: AccountStage) -> Handler:
    """Events re-keyed by `score_input`, already validated: score them."""
    score = stage.pipeline.score

    def handle(record):
        source = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        try:
            ev = _event_decoder.decode(record.value)
        except (msgspec.DecodeError, RecursionError) as err:  # only we write it, but never crash
            stage.metrics.consumed.inc()
            stage.pipeline.reject(record.value or b"", source, Reason.INVALID_JSON,
                                  f"re-keyed event does not decode: {err}")
            return
        score(ev, record.value, source)

    return handle
