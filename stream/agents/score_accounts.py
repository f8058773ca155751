"""score_accounts: the per-account stage on the input topic (and on the re-keyed topic).

An event is scored where its account lives (the partition its id hashes to); one that arrived
elsewhere is re-keyed first (stream/agents/rekey.py). Batches are checkpointed by
`AccountStage.run_batches`: state and outputs flushed, then the batch acked.
"""

from __future__ import annotations

import asyncio

import msgspec
from distillguard.models.event import Event
from distillguard.stream.agents.rekey import encode_rekeyed, needs_rekey
from distillguard.stream.agents.stage import AccountStage
from distillguard.stream.intake import Reason

_event_decoder = msgspec.json.Decoder(Event)


async def score_accounts(stage: AccountStage, stream) -> None:
    parse_all, score, gaps = stage.pipeline.parse_all, stage.pipeline.score, stage.gaps
    partition_of, send, by_account = stage.partition_of, stage.checkpoint.send, stage.names.by_account
    formats = stage.formats

    def handle(event):
        """One message: one contract event, or several requests of a declared format."""
        msg = event.message
        gaps.check(msg)
        raw = event.value or b""
        source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        events = parse_all(raw, source, formats.get(msg.topic))
        sends = []
        for ev in events:
            if needs_rekey(ev, msg, partition_of):
                key = ev.account_id.encode()
                sends.append(send(by_account, key, encode_rekeyed(ev), partition_of(key)))
            elif len(events) == 1:
                score(ev, raw, source)  # a scoring error dead-letters the original bytes
            else:
                score(ev, None, source)
        return sends[0] if len(sends) == 1 else asyncio.gather(*sends) if sends else None

    await stage.run_batches(stream, handle)


async def score_rekeyed(stage: AccountStage, stream) -> None:
    """Events re-keyed by `score_accounts`, already validated: score them."""
    score, gaps = stage.pipeline.score, stage.gaps

    def handle(event):
        msg = event.message
        gaps.check(msg)
        source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        try:
            ev = _event_decoder.decode(event.value)
        except (msgspec.DecodeError, RecursionError) as err:  # only we write it, but never crash
            stage.metrics.consumed.inc()
            stage.pipeline.reject(event.value or b"", source, Reason.INVALID_JSON,
                                  f"re-keyed event does not decode: {err}")
            return
        score(ev, event.value, source)

    await stage.run_batches(stream, handle)
