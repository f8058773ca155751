"""One metrics module: every Prometheus metric is declared in sinks/metrics.py, and every metric
the dashboards and alert rules use is one of them (a rename there would silently blank a panel
or disarm an alert)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from distillguard.sinks.metrics import ApiMetrics, Metrics, WebhookMetrics
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("stream", "sinks", "models", "migrations")
METRIC_TYPES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
HOME = REPO / "sinks" / "metrics.py"


def declared_samples() -> set[str]:
    names: set[str] = set()
    registries = [Metrics().registry, ApiMetrics().registry]
    webhooks = CollectorRegistry()
    WebhookMetrics(webhooks).declare("json-0")
    registries.append(webhooks)
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            names.update(s.name for s in family.samples)
    # histogram and counter series exist once observed; their names follow from the family
    for family_name in list(names):
        names.update(f"{family_name}{suffix}" for suffix in
                     ("_total", "_bucket", "_sum", "_count", "_created"))
    return names


def test_metrics_are_declared_only_in_sinks_metrics():
    offenders = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if path == HOME:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client" and \
                        any(alias.name in METRIC_TYPES for alias in node.names):
                    offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], f"declare these metrics in sinks/metrics.py: {offenders}"


def test_dashboards_and_rules_use_declared_metrics_only():
    used: dict[str, set[str]] = {}
    files = [*(REPO / "deploy" / "prometheus").glob("*.yml"),
             *(REPO / "deploy" / "grafana" / "dashboards").glob("*.json")]
    assert files
    for path in files:
        for name in re.findall(r"distillguard_[a-z0-9_]+", path.read_text()):
            used.setdefault(name, set()).add(path.name)
    declared = declared_samples()
    unknown = {name: sorted(where) for name, where in used.items() if name not in declared}
    assert unknown == {}, f"used but not declared in sinks/metrics.py: {unknown}"


def test_names_follow_the_convention_and_say_why():
    for registry in (Metrics().registry, ApiMetrics().registry):
        for family in registry.collect():
            assert family.name.startswith("distillguard_"), family.name
            assert family.documentation.strip(), family.name
            for sample in family.samples:
                assert "account" not in "".join(sample.labels), family.name  # no per-account


def test_tallied_per_event_metrics_are_read_as_if_incremented():
    """The pipeline's per-event counts are plain additions: every read of the registry (a
    scrape, a restricted scrape, get_sample_value) sees them, added once."""
    from prometheus_client import generate_latest

    m = Metrics()
    m.consumed.tally += 3
    m.consumed.inc()
    m.last_event_ts.latest = 1700000000.5
    value = m.registry.get_sample_value
    assert value("distillguard_events_consumed_total") == 4
    assert value("distillguard_events_consumed_total") == 4  # folded once, not per read
    m.consumed.tally += 1
    only = m.registry.restricted_registry(["distillguard_events_consumed_total"])
    assert b"distillguard_events_consumed_total 5.0" in generate_latest(only)
    assert value("distillguard_last_event_timestamp_seconds") == 1700000000.5
    assert value("distillguard_events_scored_total") == 0
