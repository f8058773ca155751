"""apply_verdicts: group verdicts come back to the per-account stage (the group-verdicts topic
is keyed by account id and co-partitioned with the input). A verdict that changes what the
account holds makes it due; the batch's publish rescores it (AccountStage.publish)."""

from __future__ import annotations

import logging

import msgspec
from distillguard.models.group_messages import GroupVerdict
from distillguard.stream.agents.stage import AccountStage

log = logging.getLogger(__name__)
_decode = msgspec.msgpack.Decoder(GroupVerdict).decode


async def apply_verdicts(stage: AccountStage, stream) -> None:
    engine, gaps = stage.engine, stage.gaps

    def handle(event):
        msg = event.message
        gaps.check(msg)
        try:
            verdict = _decode(event.value)
        except msgspec.DecodeError as err:  # only we write it, but never crash
            log.error("skipping an undecodable group verdict at %s[%d]@%d: %s", msg.topic,
                      msg.partition, msg.offset, err)
            return
        engine.receive(verdict)

    await stage.run_batches(stream, handle)
