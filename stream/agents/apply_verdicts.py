"""apply_verdicts: group verdicts come back to the per-account stage (a handler of it: the
group-verdicts topic is keyed by account id and co-partitioned with the input). A verdict that
changes what the account holds makes it due; the batch's publish rescores it
(AccountStage.publish)."""

from __future__ import annotations

import logging

import msgspec
from distillguard.models.group_messages import GroupVerdict
from distillguard.stream.agents.stage import AccountStage, Handler

log = logging.getLogger(__name__)
_decode = msgspec.msgpack.Decoder(GroupVerdict).decode


def apply_verdicts(stage: AccountStage) -> Handler:
    engine = stage.engine

    def handle(record):
        try:
            verdict = _decode(record.value)
        except msgspec.DecodeError as err:  # only we write it, but never crash
            log.error("skipping an undecodable group verdict at %s[%d]@%d: %s", record.topic,
                      record.partition, record.offset, err)
            return
        engine.receive(verdict)

    return handle
