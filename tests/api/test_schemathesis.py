"""Property-based requests from the app's own OpenAPI document (schemathesis, in-process
against the ASGI app, seeded with a few rows of every kind): no input may cause a 5xx.

Driven through schemathesis' Python API (one hypothesis run per operation, valid and invalid
data) rather than `schemathesis.pytest.from_fixture`, which does not work with pytest 9.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import plan
from distillguard.sinks.decisions import DecisionStore
from distillguard.stream.api import create_app
from distillguard.stream.api.auth import create_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api.conftest import T0, Clock, bearer, seed_accounts, seed_alert

pytestmark = pytest.mark.postgres
EXAMPLES = 80   # per operation and mode: ~20 s for the whole API


@pytest.fixture
def admin_token(engine) -> str:
    return create_token(engine, "fuzz-admin", ["admin"])


@pytest.fixture
def api_schema(db, engine, admin_token):
    clock = Clock()
    seed_accounts(engine, {f"acct-{i}": 12.5 * i for i in range(9)})
    for i in range(4):
        seed_alert(engine, f"al-{i}", account_id=f"acct-{i}", created_at=T0 + timedelta(hours=i))
    store = DecisionStore(db)
    u = RiskUpdate(account_id="acct-8", seq=1, risk=99.0, severity="critical",
                   reasons=[Reason("logprob_harvesting", "t", 0.9)], event_ts=T0.timestamp(),
                   recent_api_keys=["k-8"], recent_source_ips=["10.0.0.8"])
    store.apply([(u, plan(u))], clock())
    store.close()
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(db, clock=clock))


# Seeded ids, so that generated requests also reach rows that exist, not only 404s.
KNOWN = {"account_id": ["acct-1", "acct-8"], "alert_id": ["al-0", "al-1", "al-2", "al-3"]}


def strategy(operation, mode: GenerationMode):
    """Generated cases, half of them aimed at seeded rows; valid allowlist bodies get an
    expiry inside the accepted window, so the write path is fuzzed too (not only the 422)."""
    base = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if mode is GenerationMode.NEGATIVE or not names:
        return base
    aimed = st.one_of(*(operation.as_strategy(generation_mode=mode, path_parameters={
        name: value for name in names for value in [values[i % len(values)]]})
        for i in range(4) for values in [KNOWN[names[0]]]))
    cases = st.one_of(base, aimed)
    if operation.method.upper() == "PUT":
        cases = cases.map(_valid_expiry)
    return cases


def _valid_expiry(case):
    if isinstance(case.body, dict) and "expires_at" in case.body:
        case.body["expires_at"] = (T0 + timedelta(days=3)).isoformat()
    return case


def test_no_input_causes_a_server_error(api_schema, admin_token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=strategy(operation, mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                response = case.call(headers=bearer(admin_token))
                case.validate_response(response, checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (e.g. no parameters at all)
                assert mode is GenerationMode.NEGATIVE, operation.label
