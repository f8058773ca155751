"""The checkpointed batch loop: outputs that are ready go out every `send_every` records, not
only at the end of a batch, while the ack still waits for the commit (flush, every delivery)."""

import asyncio
from types import SimpleNamespace

from distillguard.models.outcomes import Alert, RiskUpdate
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.stream.agents.stage import AccountStage, BatchStage
from distillguard.stream.batches.sink import Chunk
from distillguard.stream.offset_gaps import OffsetGapDetector
from faust.types import TP


class OneBatchSink:
    def __init__(self, chunks, log):
        self.chunks, self.log = chunks, log

    async def batches(self, max_records, within):
        yield self.chunks

    def ack(self, batch):
        self.log.append(("ack", sum(len(c.records) for c in batch)))


class RecordingCheckpoint:
    def __init__(self, log):
        self.log, self.sent = log, []

    async def send(self, topic, key, value, partition=None, headers=None):
        self.sent.append((topic, key, value))

    async def commit(self):
        self.log.append(("commit", len(self.sent)))


class LoggingStage(BatchStage):
    async def send_ready(self):
        self.log.append(("send_ready", self.handled))

    async def publish(self):
        self.log.append(("publish", self.handled))


def chunk(topic, first, n):
    tp = TP(topic, 0)
    records = [SimpleNamespace(topic=topic, partition=0, offset=first + i) for i in range(n)]
    return Chunk(tp, records, first, first + n - 1, 1)


def test_ready_outputs_go_out_every_send_every_records_and_the_ack_waits_for_the_commit():
    log = []
    stage = LoggingStage(checkpoint=RecordingCheckpoint(log), metrics=Metrics(),
                         gaps=OffsetGapDetector(None, Metrics()), send_every=256)
    stage.log, stage.handled = log, 0

    def handle(record):
        stage.handled += 1

    sink = OneBatchSink([chunk("in", 0, 600), chunk("in", 600, 10)], log)
    asyncio.run(stage.run_batches(sink, {"in": handle}))
    assert log == [("send_ready", 256), ("send_ready", 512), ("send_ready", 600),
                   ("send_ready", 610), ("publish", 610), ("commit", 0), ("ack", 610)]


def test_the_account_stage_sends_risk_updates_alerts_and_dead_letters_when_ready():
    log = []
    checkpoint = RecordingCheckpoint(log)
    names = SimpleNamespace(risk="risk", alerts="alerts", dead_letters="dlq")
    outputs, dead_letters = ListSink(), ListSink()
    stage = AccountStage(checkpoint=checkpoint, metrics=Metrics(), gaps=None, engine=None,
                         profiles=None, pipeline=None, outputs=outputs, dead_letters=dead_letters,
                         partition_of=None, names=names)
    outputs.add(RiskUpdate("acct_a", 26, 12.0, "low", [], 1.0))
    outputs.add(Alert(alert_id="x", account_id="acct_b", severity="high", risk=85.0, reasons=[],
                      event_ts=2.0, seq=51, trigger_event_id="e"))
    dead_letters.add(SimpleNamespace(original=b"{", reason="invalid_json", error="bad",
                                     source={"offset": 3}))
    asyncio.run(stage.send_ready())
    assert [(topic, key) for topic, key, _ in checkpoint.sent] == [
        ("dlq", None), ("risk", b"acct_a"), ("alerts", b"acct_b")]
    assert outputs.items == [] and dead_letters.items == []
    asyncio.run(stage.send_ready())  # nothing twice
    assert len(checkpoint.sent) == 3
