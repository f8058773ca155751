"""Where simulated traffic goes: a JSONL file (plus labels CSV) or a Kafka topic, at a rate."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
from distillguard.stream.progress import Progress
from distillguard.stream.simulate.generator import SimAccount, labels_csv_rows

_json = msgspec.json.Encoder()


def labels_path_for(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".labels.csv")


def write_labels(path: Path, accounts: list[SimAccount]) -> None:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(labels_csv_rows(accounts))


def paced(events: Iterable[dict], rate: float | None) -> Iterator[dict]:
    """Yield events no faster than `rate` per second (wall clock); None = as fast as possible."""
    started = time.perf_counter()
    for i, event in enumerate(events):
        if rate:
            ahead = i / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        yield event


def write_jsonl(path: Path, events: Iterable[dict], total: int, rate: float | None = None) -> int:
    meter = Progress(f"writing {path.name}", total=total)
    with path.open("wb") as fh:
        for event in paced(events, rate):
            fh.write(_json.encode(event) + b"\n")
            meter.advance()
    meter.finish()
    return meter.done


def send_to_kafka(broker: str, topic: str, events: Iterable[dict], total: int,
                  rate: float | None = None, keyed: bool = True) -> int:
    """Produce with kafka-python (a tool, not the hot path), keyed by account_id unless told not."""
    from distillguard.stream.kafka_security import kafka_python_kwargs
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker.split(","), linger_ms=20, acks="all",
                             batch_size=256 * 1024, **kafka_python_kwargs())
    meter = Progress(f"producing to {topic}", total=total)
    for event in paced(events, rate):
        key = event["account_id"].encode() if keyed else None
        producer.send(topic, key=key, value=_json.encode(event))
        meter.advance()
    producer.flush()
    producer.close()
    meter.finish()
    return meter.done
