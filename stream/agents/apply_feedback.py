"""apply_feedback: analyst labels from the API (the feedback topic, co-partitioned with the
input) silence false-positive reasons on the account's profile and reweigh reasons. Same batch
and checkpoint as scoring, so a label is acked only once the profile it changed is flushed."""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
from distillguard.stream.agents.stage import AccountStage

log = logging.getLogger(__name__)


class FeedbackMessage(msgspec.Struct):
    """What `POST /v1/alerts/{id}/label` publishes on the feedback topic."""

    account_id: str
    label: Literal["true_positive", "false_positive"]  # anything else is malformed
    alert_id: str = ""
    reason_codes: list[str] = []
    labelled_at: str = ""
    label_id: int = 0  # alert_labels.label_id; de-duplicates redelivered labels (0 = none)


_decode = msgspec.json.Decoder(FeedbackMessage).decode


async def apply_feedback(stage: AccountStage, stream) -> None:
    engine, metrics = stage.engine, stage.metrics

    def handle(event):
        try:
            label = _decode(event.value)
        except msgspec.DecodeError as err:
            msg = event.message
            log.warning("ignoring malformed feedback at %s[%d]@%d: %s", msg.topic,
                        msg.partition, msg.offset, err)
            metrics.feedback.labels(label="malformed").inc()
            return
        engine.feedback(label.account_id, label.label, label.reason_codes, label.label_id)
        metrics.feedback.labels(label=label.label).inc()

    await stage.run_batches(stream, handle)
