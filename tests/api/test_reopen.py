"""An escalation of an acknowledged or resolved alert puts it back in the open queue; a
re-delivery of the same escalation does not, and a false positive stays closed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from distillguard.models.outcomes import Alert, Reason
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.schema import alerts
from distillguard.sinks.store import RiskStore

from tests.api.conftest import bearer


def alert(escalations: int, severity: str = "high", alert_id: str = "al-r") -> Alert:
    return Alert(alert_id=alert_id, account_id="acct-r", severity=severity, risk=85.0 + escalations,
                 reasons=[Reason("logprob_harvesting", "t", 0.9)], event_ts=1_800_000_000.0,
                 seq=25 * (escalations + 1), trigger_event_id="ev-1",
                 reason_group="logit_extraction", escalations=escalations)


def state(engine, alert_id: str = "al-r"):
    with engine.connect() as conn:
        return conn.execute(sa.select(alerts.c.status, alerts.c.escalations, alerts.c.risk,
                                      alerts.c.acknowledged_at, alerts.c.resolved_at, alerts.c.label)
                            .where(alerts.c.alert_id == alert_id)).one()


def write(store: RiskStore, *items: Alert) -> None:
    store.write(list(items))


@pytest.mark.postgres
def test_escalation_reopens_acknowledged_and_resolved_alerts(client, db, engine, tokens):
    store = RiskStore(db)
    secops = bearer(tokens["secops"])
    try:
        write(store, alert(0))
        assert client.post("/v1/alerts/al-r/ack", headers=secops).status_code == 200
        write(store, alert(0))  # a re-delivery: still acknowledged
        assert state(engine).status == "acknowledged"
        write(store, alert(1, "critical"))
        s = state(engine)
        assert (s.status, s.escalations, s.acknowledged_at) == ("open", 1, None)
        assert client.post("/v1/alerts/al-r/resolve", headers=secops).status_code == 200
        write(store, alert(1, "critical"))
        assert state(engine).status == "resolved"
        write(store, alert(2, "critical"))
        s = state(engine)
        assert (s.status, s.resolved_at) == ("open", None)
        # the lifecycle starts over: it can be acknowledged and resolved again
        assert client.post("/v1/alerts/al-r/ack", headers=secops).json()["status"] == \
            "acknowledged"
        # a false positive is final: an escalation updates the evidence, not the verdict
        r = client.post("/v1/alerts/al-r/label", json={"label": "false_positive"},
                        headers=secops)
        assert r.status_code == 200
        write(store, alert(3, "critical"))
        s = state(engine)
        assert (s.status, s.escalations, s.label) == ("false_positive", 3, "false_positive")
        # an older escalation arriving late changes nothing
        write(store, alert(1, "critical"))
        assert state(engine).escalations == 3
    finally:
        store.close()


def test_reopen_on_sqlite_too(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(url)
    store = RiskStore(url)
    try:
        write(store, alert(0), alert(0, alert_id="al-other"))
        with store.engine.begin() as conn:
            conn.execute(alerts.update().values(status="resolved"))
        write(store, alert(1, "critical"), alert(0, alert_id="al-other"))
        assert state(store.engine).status == "open"
        assert state(store.engine, "al-other").status == "resolved"
    finally:
        store.close()
