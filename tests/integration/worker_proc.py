"""Run `distillguard run` as a real subprocess on isolated topics, and read its /metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    def __init__(self, broker: str, database_url: str, tmp: Path, partitions: int = 4,
                 module: str = "distillguard.stream.cli", args: tuple[str, ...] = (),
                 **settings: str) -> None:
        self.argv = [sys.executable, "-m", module, *(args or (
            ["run"] if module.endswith(".cli") else []))]
        tag = uuid.uuid4().hex[:8]
        self.input_topic = f"e2e-{tag}-events"
        self.feedback_topic = f"e2e-{tag}-feedback"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
        self.env.update({
            "DISTILLGUARD_BROKER": broker, "DISTILLGUARD_APP_ID": f"dg-e2e-{tag}",
            "DISTILLGUARD_INPUT_TOPIC": self.input_topic,
            "DISTILLGUARD_RISK_TOPIC": f"e2e-{tag}-risk",
            "DISTILLGUARD_ALERTS_TOPIC": f"e2e-{tag}-alerts",
            "DISTILLGUARD_FEEDBACK_TOPIC": f"e2e-{tag}-feedback",
            "DISTILLGUARD_DECISIONS_TOPIC": f"e2e-{tag}-decisions",
            "DISTILLGUARD_PARTITIONS": str(partitions), "DISTILLGUARD_DATABASE_URL": database_url,
            "DISTILLGUARD_DATA_DIR": str(tmp / "faust"),
            "DISTILLGUARD_LOG_LEVEL": os.environ.get("DG_WORKER_LOG_LEVEL", "warning"),
            **{f"DISTILLGUARD_{k.upper()}": v for k, v in settings.items()},
        })
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def twin(self, tmp: Path) -> WorkerProcess:
        """A second worker of the same app (same topics and consumer group), own local state."""
        other = WorkerProcess.__new__(WorkerProcess)
        other.__dict__.update(self.__dict__)
        other.env = {**self.env, "DISTILLGUARD_DATA_DIR": str(tmp / "faust")}
        other.tmp, other.proc, other.starts = tmp, None, 0
        return other

    def start(self, timeout_s: float = 90.0) -> None:
        self.metrics_port = free_port()
        self.env["DISTILLGUARD_METRICS_PORT"] = str(self.metrics_port)
        self.env["DISTILLGUARD_WEB_PORT"] = str(free_port())
        self.starts += 1
        self.log = (self.tmp / f"worker-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(self.argv, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"worker did not serve /metrics in {timeout_s}s:\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        """Samples by name with labels folded in: {'name{k=v}': value}."""
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                      timeout=5).read().decode()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def wait_for(self, predicate, timeout_s: float = 120.0, what: str = "condition"):
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            last = self.metrics()
            if predicate(last):
                return last
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker died:\n{self.log_tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}; last metrics: "
                           f"{ {k: v for k, v in (last or {}).items() if 'events' in k} }\n"
                           f"{self.log_tail()}")

    def committed(self, topic: str | None = None) -> int:
        """Input offsets committed by the worker's consumer group, summed over partitions."""
        return sum(self.committed_by_partition(topic).values())

    def committed_by_partition(self, topic: str | None = None) -> dict[int, int]:
        """Input offsets committed by the worker's consumer group, per partition."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.env["DISTILLGUARD_BROKER"])
        try:
            group = self.env["DISTILLGUARD_APP_ID"]
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        finally:
            admin.close()
        topic = topic or self.input_topic
        return {tp.partition: max(0, o.offset) for tp, o in offsets.items() if tp.topic == topic}

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()

    def log_tail(self, n: int = 40) -> str:
        self.log.flush()
        lines = (self.tmp / f"worker-{self.starts}.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])
