"""Service fixtures. `deploy/test.sh` starts real Kafka and PostgreSQL and sets DG_TEST_*; there,
a missing service fails the run (DG_REQUIRE_SERVICES=1). Elsewhere such tests are skipped."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa


def _service(var: str, what: str) -> str:
    value = os.environ.get(var)
    if not value:
        message = f"{what} not configured: run the tests through deploy/test.sh ({var} unset)"
        if os.environ.get("DG_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture(scope="session")
def kafka_broker() -> str:
    return _service("DG_TEST_BROKER", "Kafka")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _service("DG_TEST_DATABASE_URL", "PostgreSQL")


@pytest.fixture
def postgres_url(postgres_admin_url: str):
    """A fresh, empty database per test on the real server, dropped afterwards."""
    name = f"dg_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
