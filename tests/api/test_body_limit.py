"""Request bodies over DISTILLGUARD_API_MAX_BODY_BYTES get 413 before anything reads them,
whether they declare their length or stream it in chunks."""

from __future__ import annotations

import pytest
from distillguard.stream.api import create_app
from fastapi.testclient import TestClient

from tests.api.conftest import bearer, seed_alert

pytestmark = pytest.mark.postgres


def test_bodies_over_the_limit_are_413(db, engine, tokens, clock):
    seed_alert(engine, "al-1")
    headers = bearer(tokens["secops"])
    with TestClient(create_app(db, clock=clock, max_body_bytes=1024)) as c:
        big = {"label": "false_positive", "note": "x" * 2000}
        r = c.post("/v1/alerts/al-1/label", json=big, headers=headers)
        assert r.status_code == 413
        assert r.json()["detail"] == ("request body over 1024 bytes "
                                      "(DISTILLGUARD_API_MAX_BODY_BYTES)")

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"label": "false_positive", "note": "'
            for _ in range(10):
                yield b"y" * 200
            yield b'"}'

        r = c.post("/v1/alerts/al-1/label", content=chunks(),
                   headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["detail"].startswith("request body over 1024")
        small = c.post("/v1/alerts/al-1/label", json={"label": "false_positive"},
                       headers=headers)
        assert small.status_code == 200 and small.json()["status"] == "false_positive"
        assert 'status="413"' in c.get("/metrics").text


def test_default_limit_is_64_kib(client, engine, tokens):
    seed_alert(engine, "al-1")
    r = client.put("/v1/allowlist/acct-a", content=b"{" + b" " * 65536 + b"}",
                   headers={**bearer(tokens["exceptions"]), "Content-Type": "application/json"})
    assert r.status_code == 413
