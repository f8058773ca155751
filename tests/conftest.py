"""Service fixtures. `deploy/test.sh` starts real Kafka and PostgreSQL and sets DG_TEST_*; there,
a missing service fails the run (DG_REQUIRE_SERVICES=1). Elsewhere such tests are skipped."""

from __future__ import annotations

import os

import pytest

from tests.helpers import scratch_database


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
    with scratch_database(postgres_admin_url) as url:
        yield url
