"""score_accounts: the per-account stage on the input topic (and on the re-keyed topic).

An event is scored where its account lives (the partition its id hashes to); one that arrived
elsewhere is re-keyed first (stream/agents/rekey.py). Batches are checkpointed by
`AccountStage.run_batches`: state and outputs flushed, then the batch acked.
"""

from __future__ import annotations

import msgspec
from distillguard.models.event import Event
from distillguard.stream.agents.rekey import encode_rekeyed, needs_rekey
from distillguard.stream.agents.stage import AccountStage

_event_decoder = msgspec.json.Decoder(Event)


async def score_accounts(stage: AccountStage, stream) -> None:
    parse, score, gaps = stage.pipeline.parse, stage.pipeline.score, stage.gaps
    partition_of, send, by_account = stage.partition_of, stage.checkpoint.send, stage.names.by_account

    def handle(event):
        msg = event.message
        gaps.check(msg)
        ev = parse(event.value or b"", {"topic": msg.topic, "partition": msg.partition,
                                        "offset": msg.offset})
        if ev is None:
            return None
        if needs_rekey(ev, msg, partition_of):
            key = ev.account_id.encode()
            return send(by_account, key, encode_rekeyed(ev), partition_of(key))
        score(ev)
        return None

    await stage.run_batches(stream, handle)


async def score_rekeyed(stage: AccountStage, stream) -> None:
    """Events re-keyed by `score_accounts`, already validated: score them."""
    score, gaps = stage.pipeline.score, stage.gaps

    def handle(event):
        gaps.check(event.message)
        score(_event_decoder.decode(event.value))

    await stage.run_batches(stream, handle)
