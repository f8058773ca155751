"""The store on real PostgreSQL: schema only via Alembic, idempotent upserts, billing view."""

import pytest
import sqlalchemy as sa
from distillguard.models.engine import Engine
from distillguard.models.profile import AccountProfile
from distillguard.sinks.migrate import downgrade, upgrade
from distillguard.sinks.store import RiskStore

from tests.helpers import chat_events, harvester_events
from tests.unit.test_engine import as_event

pytestmark = pytest.mark.postgres


def outputs_of(events):
    profiles: dict[str, AccountProfile] = {}
    engine = Engine(profiles)
    out = []
    for e in events:
        o = engine.process(as_event(e))
        out += [x for x in (o.risk, o.alert) if x is not None]
    return out


def counts(url):
    engine = sa.create_engine(url)
    with engine.connect() as c:
        result = {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("account_risk", "risk_history", "alerts", "billing_account_risk")}
    engine.dispose()
    return result


def test_migrations_up_down_up(postgres_url):
    upgrade(postgres_url)
    downgrade(postgres_url, "base")
    upgrade(postgres_url)
    engine = sa.create_engine(postgres_url)
    tables = set(sa.inspect(engine).get_table_names())
    views = set(sa.inspect(engine).get_view_names())
    engine.dispose()
    assert {"account_risk", "risk_history", "alerts", "alembic_version"} <= tables
    assert "billing_account_risk" in views


def test_replaying_a_batch_adds_no_rows(postgres_url):
    upgrade(postgres_url)
    outputs = outputs_of(harvester_events("pg-h", 300) + chat_events("pg-c", 100))
    store = RiskStore(postgres_url, batch_size=64)
    for item in outputs:
        store.add(item)
    store.flush()
    first = counts(postgres_url)
    for item in outputs:  # redelivery of everything, as after a restart
        store.add(item)
    store.flush()
    assert counts(postgres_url) == first
    assert first["account_risk"] == 2 and first["alerts"] >= 1
    assert first["risk_history"] == sum(1 for o in outputs if hasattr(o, "seq") and
                                        not hasattr(o, "alert_id"))
    store.close()


def test_current_risk_never_moves_backwards(postgres_url):
    upgrade(postgres_url)
    outputs = [o for o in outputs_of(harvester_events("pg-o", 200)) if not hasattr(o, "alert_id")]
    store = RiskStore(postgres_url)
    store.write(outputs[-1:])
    store.write(outputs[:1])  # an older update arriving late
    engine = sa.create_engine(postgres_url)
    with engine.connect() as c:
        seq = c.execute(sa.text("SELECT seq FROM account_risk WHERE account_id='pg-o'")).scalar_one()
        billing = c.execute(sa.text("SELECT flagged, risk FROM billing_account_risk")).one()
    engine.dispose()
    store.close()
    assert seq == outputs[-1].seq
    assert billing.flagged is True and billing.risk == outputs[-1].risk


def test_billing_role_can_read_only_the_view(postgres_url):
    upgrade(postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.connect() as c:
        grants = c.execute(sa.text(
            "SELECT table_name FROM information_schema.role_table_grants "
            "WHERE grantee='distillguard_billing'")).scalars().all()
    engine.dispose()
    assert set(grants) == {"billing_account_risk"}
