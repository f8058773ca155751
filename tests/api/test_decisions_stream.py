"""Decisions: idempotent writes, escalation, extension, and the bouncer stream's start-up,
delta and TTL-expiry semantics, on an injectable clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from distillguard.models.outcomes import Reason, RiskUpdate
from distillguard.models.policy import SCOPE_TYPES, PolicyConfig, plan
from distillguard.sinks.decisions import DecisionStore
from distillguard.sinks.metrics import Metrics
from distillguard.sinks.schema import decisions
from distillguard.stream.config import Settings
from distillguard.stream.decider import Decider

from tests.api.conftest import bearer

pytestmark = pytest.mark.postgres
WITH_IP = PolicyConfig(scopes=SCOPE_TYPES)  # IP scope only by explicit policy


def update(account, seq, severity, risk, codes=("logprob_harvesting",), keys=(), ips=()):
    return RiskUpdate(account_id=account, seq=seq, risk=risk, severity=severity,
                      reasons=[Reason(c, c, 0.9) for c in codes], event_ts=1_800_000_000.0,
                      recent_api_keys=list(keys), recent_source_ips=list(ips))


@pytest.fixture
def store(db):
    s = DecisionStore(db)
    yield s
    s.close()


def apply(store, clock, *updates):
    return store.apply([(u, plan(u, WITH_IP)) for u in updates], clock())


def poll(client, token, startup=False, **params):
    r = client.get("/v1/decisions/stream", params={"startup": str(startup).lower(), **params},
                   headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    return ({(d["scope"], d["value"], d["type"]) for d in body["new"]},
            {(d["scope"], d["value"], d["type"]) for d in body["deleted"]}, body)


def db_state(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(), sa.func.max(decisions.c.change_seq))
                            .select_from(decisions)).one()


def test_startup_then_deltas_then_escalation(client, store, clock, tokens):
    bouncer = tokens["bouncer"]
    apply(store, clock, update("acct-a", 25, "high", 85.0, keys=["k-a"], ips=["10.0.0.1"]))
    new, deleted, body = poll(client, bouncer, startup=True)
    assert new == {("account", "acct-a", "throttle"), ("account", "acct-a", "strip_logprobs"),
                   ("api_key", "k-a", "throttle"), ("api_key", "k-a", "strip_logprobs"),
                   ("ip", "10.0.0.1", "throttle"), ("ip", "10.0.0.1", "strip_logprobs")}
    assert deleted == set()
    d = body["new"][0]
    assert d["origin"] == "distillguard" and d["duration"] == "6h0m0s"
    assert d["until"].startswith("2026-12-01T18:00:00") and d["account_id"] == "acct-a"
    assert "logprob_harvesting" in d["scenario"]
    assert poll(client, bouncer)[:2] == (set(), set())  # nothing changed since

    apply(store, clock, update("acct-b", 25, "medium", 60.0, codes=()))
    assert poll(client, bouncer)[:2] == ({("account", "acct-b", "monitor")}, set())

    clock.advance(minutes=10)
    apply(store, clock, update("acct-a", 50, "critical", 97.0, keys=["k-a"], ips=["10.0.0.1"]))
    new, deleted, _ = poll(client, bouncer)
    assert new == {("account", "acct-a", "block"), ("api_key", "k-a", "block"),
                   ("ip", "10.0.0.1", "block")}
    assert deleted == {(s, v, a) for s, v in (("account", "acct-a"), ("api_key", "k-a"),
                                              ("ip", "10.0.0.1"))
                       for a in ("throttle", "strip_logprobs")}
    # a weaker band later does not add weaker decisions under an active block
    apply(store, clock, update("acct-a", 75, "high", 85.0))
    assert poll(client, bouncer)[:2] == (set(), set())


def test_replay_creates_nothing(client, store, clock, tokens, engine):
    updates = [update("acct-a", 25, "high", 85.0, ips=["10.0.0.1"]),
               update("acct-a", 50, "critical", 97.0, ips=["10.0.0.1"]),
               update("acct-c", 25, "medium", 55.0, codes=())]
    apply(store, clock, *updates)
    poll(client, tokens["bouncer"], startup=True)
    before = db_state(engine)
    clock.advance(minutes=30)
    again = apply(store, clock, *updates)  # a redelivered batch, later
    assert db_state(engine) == before
    assert {c.row["action"] for c in again} >= {"block"}  # re-announced, not re-created
    assert poll(client, tokens["bouncer"])[:2] == (set(), set())


def test_ttl_expiry_is_reported_once(client, store, clock, tokens):
    bouncer = tokens["bouncer"]
    apply(store, clock, update("acct-m", 25, "medium", 60.0, codes=()),
          update("acct-h", 25, "high", 85.0, codes=()))
    assert len(poll(client, bouncer, startup=True)[0]) == 2
    clock.advance(minutes=59)
    assert poll(client, bouncer)[:2] == (set(), set())
    clock.advance(minutes=2)  # the 1 h monitor has expired, the 6 h throttle has not
    assert poll(client, bouncer)[:2] == (set(), {("account", "acct-m", "monitor")})
    assert poll(client, bouncer)[:2] == (set(), set())
    assert poll(client, bouncer, startup=True)[0] == {("account", "acct-h", "throttle")}
    clock.advance(hours=6)
    assert poll(client, bouncer)[:2] == (set(), {("account", "acct-h", "throttle")})
    assert poll(client, bouncer, startup=True)[:2] == (set(), set())


def test_expired_decision_can_come_back_with_new_evidence(client, store, clock, tokens):
    bouncer = tokens["bouncer"]
    apply(store, clock, update("acct-m", 25, "medium", 60.0, codes=()))
    poll(client, bouncer, startup=True)
    clock.advance(hours=2)
    apply(store, clock, update("acct-m", 50, "medium", 61.0, codes=()))
    new, deleted, body = poll(client, bouncer)
    assert new == {("account", "acct-m", "monitor")} == deleted  # old id gone, new id added
    assert body["new"][0]["id"] != body["deleted"][0]["id"]


def test_active_decisions_are_extended_only_near_expiry(client, store, clock, tokens):
    bouncer = tokens["bouncer"]
    apply(store, clock, update("acct-h", 25, "high", 85.0, codes=()))
    first = poll(client, bouncer, startup=True)[2]["new"][0]
    clock.advance(hours=1)
    apply(store, clock, update("acct-h", 50, "high", 86.0, codes=()))  # 5 h left: keep
    assert poll(client, bouncer)[:2] == (set(), set())
    clock.advance(hours=3)
    apply(store, clock, update("acct-h", 75, "high", 87.0, codes=()))  # 2 h left: extend
    _, _, body = poll(client, bouncer)
    assert [d["id"] for d in body["new"]] == [first["id"]]
    assert body["new"][0]["until"].startswith("2026-12-01T22:00") and body["new"][0]["risk"] == 87


def test_cursors_are_per_token_and_first_poll_is_startup(client, store, clock, tokens, engine):
    from distillguard.stream.api.auth import create_token

    other = create_token(engine, "bouncer-2", ["decisions:read"])
    apply(store, clock, update("acct-a", 25, "medium", 60.0, codes=()))
    assert len(poll(client, tokens["bouncer"], startup=True)[0]) == 1
    apply(store, clock, update("acct-b", 25, "medium", 60.0, codes=()))
    assert len(poll(client, other)[0]) == 2  # never polled: gets the full set
    assert poll(client, tokens["bouncer"])[0] == {("account", "acct-b", "monitor")}
    assert poll(client, other)[0] == set()


def test_scope_filter(client, store, clock, tokens):
    apply(store, clock, update("acct-a", 25, "medium", 60.0, codes=(), keys=["k"], ips=["1.1.1.1"]))
    new, _, _ = poll(client, tokens["bouncer"], startup=True, scopes="ip,api_key")
    assert new == {("ip", "1.1.1.1", "monitor"), ("api_key", "k", "monitor")}
    r = client.get("/v1/decisions/stream", params={"scopes": "ip,email"},
                   headers=bearer(tokens["bouncer"]))
    assert r.status_code == 422


def test_allowlist_suppresses_decisions_and_lifts_active_ones(client, store, clock, tokens,
                                                                engine, db):
    bouncer, secops = tokens["bouncer"], tokens["exceptions"]
    decider = Decider(Settings(database_url=db), Metrics(), store, WITH_IP, clock=clock,
                      allowlist_refresh_s=3600)
    asyncio.run(decider.handle([update("acct-a", 25, "critical", 99.0, ips=["10.0.0.9"])]))
    assert len(poll(client, bouncer, startup=True)[0]) == 2
    until = (clock() + timedelta(days=30)).isoformat()
    r = client.put("/v1/allowlist/acct-a", json={"reason": "internal eval team",
                                                   "expires_at": until}, headers=bearer(secops))
    assert r.status_code == 200 and r.json()["active"] and r.json()["created_by"] == "exceptions"
    # its decisions in force are lifted at the bouncer's next poll
    assert poll(client, bouncer)[:2] == (set(), {("account", "acct-a", "block"),
                                                 ("ip", "10.0.0.9", "block")})
    # the decider's cached allowlist is stale (refresh in an hour), the write re-checks
    changes = asyncio.run(decider.handle([update("acct-a", 50, "critical", 99.5)]))
    assert changes == []
    # a fresh decider sees the entry in its cache and plans nothing at all
    fresh = Decider(Settings(database_url=db), Metrics(), store, clock=clock)
    assert asyncio.run(fresh.handle([update("acct-a", 75, "critical", 99.9)])) == []
    assert poll(client, bouncer)[:2] == (set(), set())
    # other accounts are unaffected
    asyncio.run(fresh.handle([update("acct-b", 25, "critical", 99.0)]))
    assert poll(client, bouncer)[0] == {("account", "acct-b", "block")}
    # when the entry expires, enforcement resumes with the next update
    clock.advance(days=31)
    asyncio.run(Decider(Settings(database_url=db), Metrics(), store, clock=clock).handle(
        [update("acct-a", 100, "critical", 99.0)]))
    assert ("account", "acct-a", "block") in poll(client, bouncer)[0]
