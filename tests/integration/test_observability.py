"""Monitoring as code, checked against the real things rather than by eye: promtool runs the rules
and their unit tests, every metric a dashboard or rule queries must be served by a live worker,
every dashboard SQL query must run on the migrated PostgreSQL schema, and a real Prometheus server
scraping a live worker must fire an alert. A renamed metric or column then fails a test here
instead of leaving an empty panel or an alert that can never fire."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from distillguard.models.engine import Engine, EngineConfig
from distillguard.sinks.base import ListSink
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.store import RiskStore
from distillguard.stream.config import Settings
from distillguard.stream.pipeline import Pipeline
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import chat_events, harvester_events, scratch_database
from tests.integration.worker_proc import WorkerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = {"distillguard-overview.json": "distillguard-overview",
              "distillguard-account.json": "distillguard-account"}
ALERTS = {  # the documented alerts and their severity; docs/sre.md has a section for each
    "DistillguardWorkerDown": "critical",
    "DistillguardConsumerLagGrowing": "warning",
    "DistillguardNoEventsConsumed": "warning",
    "DistillguardDeadLetterRateHigh": "warning",
    "DistillguardSinkFailing": "warning",
    "DistillguardCriticalRiskAccount": "critical",
}
METRIC = re.compile(r"\bdistillguard[_:][a-z0-9_:]+")
# Sample names a metric family can expose, by type (a counter `x` is scraped as `x_total`).
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created")}


def binary(name: str) -> str:
    """Debian's prometheus package (deploy/promtool.sh); required under deploy/test.sh."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed: run deploy/promtool.sh"
        if os.environ.get("DG_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool(*args: str) -> None:
    done = subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def dashboard(name: str) -> dict:
    return json.loads((GRAFANA / "dashboards" / name).read_text())


def panels(dash: dict):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])  # panels inside collapsed rows


def targets(datasource_uid: str):
    """(dashboard, panel title, query text) of every query on that data source."""
    for name in DASHBOARDS:
        dash = dashboard(name)
        for p in panels(dash):
            for t in p.get("targets", []):
                if (t.get("datasource") or p["datasource"])["uid"] == datasource_uid:
                    yield name, p["title"], t["expr"] if datasource_uid == "prometheus" else t["rawSql"]
        for var in dash["templating"]["list"]:
            if var.get("datasource", {}).get("uid") == datasource_uid:
                yield name, f"${var['name']}", var["query"]


def alert_blocks() -> dict[str, str]:
    """rules.yml text of each alerting rule, by name (no YAML parser among our dependencies)."""
    text = (PROMETHEUS / "rules.yml").read_text()
    parts = re.split(r"^\s+- alert: (\w+)\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def recorded_names() -> set[str]:
    return set(re.findall(r"- record: (\S+)", (PROMETHEUS / "rules.yml").read_text()))


# ---------------------------------------------------------------- files only, no services --

def test_promtool_checks_config_rules_and_rule_unit_tests():
    promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    promtool("check", "rules", str(PROMETHEUS / "rules.yml"))
    promtool("test", "rules", str(PROMETHEUS / "rules.test.yml"))


def test_alert_rules_are_as_documented():
    blocks = alert_blocks()
    assert set(blocks) == set(ALERTS)
    tests = (PROMETHEUS / "rules.test.yml").read_text()
    docs = (ROOT / "docs" / "sre.md").read_text()
    for name, block in blocks.items():
        assert f"severity: {ALERTS[name]}\n" in block, name
        for annotation in ("summary", "description"):
            assert re.search(rf"^\s+{annotation}: \S", block, re.M), (name, annotation)
        assert f'runbook: "docs/sre.md#{name.lower()}: ' in block, name
        assert f"\n### {name}\n" in docs, f"docs/sre.md has no section for {name}"
        assert f"alertname: {name}\n" in tests, f"rules.test.yml never tests {name}"


def test_dashboards_have_fixed_uids_and_provisioned_datasources():
    for name, uid in DASHBOARDS.items():
        dash = dashboard(name)
        assert dash["uid"] == uid and dash["schemaVersion"] >= 39
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for p in panels(dash):
            for t in p["targets"]:
                assert (t.get("datasource") or p["datasource"])["uid"] in {"prometheus", "postgres"}
    account_var = dashboard("distillguard-account.json")["templating"]["list"][0]
    assert account_var["name"] == "account" and account_var["datasource"]["uid"] == "postgres"
    sources = (GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text()
    assert re.search(r"uid: prometheus\n\s+type: prometheus\n", sources)
    assert re.search(r"uid: postgres\n\s+type: grafana-postgresql-datasource\n", sources)
    providers = (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    assert "path: /var/lib/grafana/dashboards\n" in providers


def test_compose_mounts_existing_files_and_sets_known_settings():
    """`docker compose config` needs the compose plugin, absent here: check what it would catch
    that matters most, a mount of a missing file and a misspelt DISTILLGUARD_ variable (the
    worker refuses unknown ones)."""
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    mounts = re.findall(r"^\s+- (\.\.?/[^:\s]+):", compose, re.M)
    assert len(mounts) == 4  # prometheus.yml, rules.yml, grafana provisioning and dashboards
    for source in mounts:
        assert (ROOT / "deploy" / source).resolve().exists(), source
    for dockerfile in re.findall(r"dockerfile: (\S+)", compose):
        assert (ROOT / dockerfile).is_file(), dockerfile
    known = {f.upper() for f in Settings.__dataclass_fields__}
    variables = set(re.findall(r"\bDISTILLGUARD_([A-Z_]+):", compose))
    assert {"BROKER", "DATABASE_URL", "METRICS_PORT"} <= variables
    for var in variables:
        assert var in known, f"DISTILLGUARD_{var} is not a setting (stream/config.py)"


# ----------------------------------------------------------------------------- PostgreSQL --

def grafana_to_sql(query: str, account: str) -> str:
    """Expand the few Grafana macros our dashboards use; anything else left fails the test."""
    query = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 day' AND now()",
                   query)
    query = query.replace("$account", account)
    assert "$" not in query, f"unexpanded Grafana macro or variable in:\n{query}"
    return query


@pytest.mark.postgres
def test_every_dashboard_sql_query_runs_on_the_migrated_schema(postgres_url):
    """Rows come from the real engine and store (an attacker and a benign account, events of the
    last hour), so each query must not only run but also find them."""
    upgrade(postgres_url)
    attacker = "obs-sql-harvester"
    start = int(time.time() * 1000) - 3_600_000
    outputs = ListSink()
    pipeline = Pipeline(Engine({}, EngineConfig()), Metrics(), ListSink(), outputs)
    for e in harvester_events(attacker, 300, start_ms=start) + chat_events("obs-sql-benign", 30,
                                                                           start_ms=start):
        ev = pipeline.parse(json.dumps(e).encode(), {})
        assert ev is not None
        pipeline.score(ev)
    assert any(type(o).__name__ == "Alert" for o in outputs.items), "no alert to show"
    store = RiskStore(postgres_url)
    store.write(outputs.items)
    store.engine.dispose()

    engine = sa.create_engine(postgres_url)
    queries = list(targets("postgres"))
    assert len(queries) >= 9
    try:
        with engine.connect() as conn:
            for name, title, query in queries:
                try:
                    rows = conn.execute(sa.text(grafana_to_sql(query, attacker))).all()
                except sa.exc.DBAPIError as err:
                    pytest.fail(f"{name} / {title}: {err}")
                assert rows, f"{name} / {title}: no rows"
    finally:
        engine.dispose()


# --------------------------------------------------------- live worker (Kafka + PostgreSQL) --



@pytest.fixture(scope="module")
def worker(kafka_broker, postgres_admin_url, tmp_path_factory):
    with scratch_database(postgres_admin_url) as url:
        proc = WorkerProcess(kafka_broker, url, tmp_path_factory.mktemp("obs-worker"))
        proc.start()
        try:
            # /metrics is up before the worker has created its topics; producing now would let
            # the broker auto-create the input topic. Lag gauges appear once partitions are assigned.
            proc.wait_for(lambda m: any(k.startswith("distillguard_consumer_lag_messages{")
                                        for k in m), timeout_s=60, what="partitions assigned")
            yield proc
        finally:
            proc.stop()


def exposable_names(body: str) -> set[str]:
    return {f.name + suffix for f in text_string_to_metric_families(body)
            for suffix in SUFFIXES.get(f.type, ("",))}


@pytest.mark.kafka
@pytest.mark.postgres
def test_every_queried_metric_is_served_by_a_live_worker(worker, kafka_broker):
    events = harvester_events("obs-harvester", 100, start_ms=int(time.time() * 1000) - 600_000)
    events += chat_events("obs-benign", 30, start_ms=int(time.time() * 1000) - 1_800_000)
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all", linger_ms=5)
    for e in events:
        producer.send(worker.input_topic, key=e["account_id"].encode(), value=json.dumps(e).encode())
    producer.close()
    # Events are counted as they are scored; a batch's latency and stage seconds only once it is
    # committed (state and outputs flushed), so wait for both rather than sample mid-commit.
    m = worker.wait_for(lambda m: m["distillguard_events_scored_total"] >= len(events)
                        and m["distillguard_processing_latency_seconds_count"] > 0,
                        timeout_s=60, what="events scored and their batch committed")
    assert m["distillguard_risk_score_count"] > 0
    for phase in ("handling", "committing"):  # where each stage's time goes
        assert m[f"distillguard_stage_seconds_total{{phase={phase},stage=score_accounts}}"] > 0
    worker.wait_for(lambda m: m["distillguard_stage_seconds_total{phase=handling,"
                              "stage=merge_groups}"] > 0, timeout_s=30, what="links merged")

    body = urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics",
                                  timeout=5).read().decode()
    served, recorded = exposable_names(body), recorded_names()
    queried = {(f"{name} / {title}", metric)
               for name, title, expr in targets("prometheus") for metric in METRIC.findall(expr)}
    queried |= {("rules.yml", metric) for metric in METRIC.findall(
        (PROMETHEUS / "rules.yml").read_text())}
    assert len(queried) > 10
    missing = sorted((where, metric) for where, metric in queried
                     if metric not in (recorded if ":" in metric else served))
    assert not missing, f"queried but not served by the worker: {missing}"


def fast_rules(text: str) -> str:
    """rules.yml with 10s windows (5 scrapes) and 2s `for:`, so an alert can fire within a test."""
    text = re.sub(r"\[\d+[smh]\]", "[10s]", text)
    return re.sub(r"\bfor: \d+[smh]\b", "for: 2s", text)


class PrometheusServer:
    """Debian's `prometheus` binary on a free port, with its own config and TSDB in `tmp`."""

    def __init__(self, tmp: Path, scrape_target: str, rules: str) -> None:
        (tmp / "rules.yml").write_text(rules)
        # 2s, not 1s: the scrape timeout equals the interval, and a busy CI box can miss 1s.
        config = {"global": {"scrape_interval": "2s", "evaluation_interval": "1s"},
                  "rule_files": [str(tmp / "rules.yml")],
                  "scrape_configs": [{"job_name": "distillguard-worker",
                                      "static_configs": [{"targets": [scrape_target]}]}]}
        (tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port, self.log_path = free_port(), tmp / "prometheus.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())["data"]

    def firing(self) -> dict[str, dict]:
        return {a["labels"]["alertname"]: a for a in self.api("alerts")["alerts"]
                if a["state"] == "firing"}

    def wait(self, what: str, found, timeout_s: float, between=lambda: None):
        """Poll `found()` each second (calling `between()` first) until it returns something."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited:\n{self.log_tail()}"
            between()
            with contextlib.suppress(OSError, ValueError):  # not listening yet
                if result := found():
                    return result
            time.sleep(1)
        pytest.fail(f"timed out after {timeout_s}s waiting for {what}; {self.targets()}\n"
                    f"{self.log_tail()}")

    def targets(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            return "targets: " + ", ".join(
                f"{t['scrapeUrl']} {t['health']} {t['lastError']!r}"
                for t in self.api("targets")["activeTargets"])
        return "targets: unavailable"

    def log_tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.mark.kafka
@pytest.mark.postgres
def test_prometheus_fires_dead_letter_alert_on_live_worker(worker, kafka_broker, tmp_path):
    """The real rules.yml expressions (shortened windows) on a real Prometheus scraping the live
    worker: malformed input must fire DistillguardDeadLetterRateHigh, and the worker, being up,
    must not fire DistillguardWorkerDown."""
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{worker.metrics_port}",
                            fast_rules((PROMETHEUS / "rules.yml").read_text()))
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all", linger_ms=5)
    try:
        prom.wait("two successful scrapes of the worker", lambda: prom.api(
            "query", query='sum_over_time(up{job="distillguard-worker"}[1m]) >= 2')["result"], 45)

        def send_malformed() -> None:
            for payload in (b"{not json", b'{"event_id": "x"}') * 5:
                producer.send(worker.input_topic, value=payload)
            producer.flush()

        def dead_letter_alert_firing() -> dict | None:
            firing = prom.firing()
            return firing if "DistillguardDeadLetterRateHigh" in firing else None

        firing = prom.wait("DistillguardDeadLetterRateHigh firing", dead_letter_alert_firing, 90,
                           between=send_malformed)
        assert firing["DistillguardDeadLetterRateHigh"]["labels"]["severity"] == "warning"
        assert "DistillguardWorkerDown" not in firing
    finally:
        producer.close()
        prom.stop()
