"""apply_feedback: analyst labels from the API (the feedback topic, co-partitioned with the
input) silence false-positive reasons on the account's profile and go to the learned state
(reason weights, river verdict model, calibration). A handler of the per-account stage: same
batch and checkpoint as scoring, so a label is acked only once what it changed is flushed."""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
from distillguard.stream.agents.stage import AccountStage, Handler

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


def apply_feedback(stage: AccountStage) -> Handler:
    engine, metrics = stage.engine, stage.metrics

    def handle(record):
        try:
            label = _decode(record.value)
        except msgspec.DecodeError as err:
            log.warning("ignoring malformed feedback at %s[%d]@%d: %s", record.topic,
                        record.partition, record.offset, err)
            metrics.feedback.labels(label="malformed").inc()
            return
        engine.feedback(label.account_id, label.label, label.reason_codes, label.label_id)
        metrics.feedback.labels(label=label.label).inc()

    return handle
