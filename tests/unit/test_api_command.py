"""`distillguard api` connects with its own URL (DISTILLGUARD_API_DATABASE_URL, meant for a
login of the distillguard_api role), falling back to the main one, and passes the limits on."""

from __future__ import annotations

import pytest
import uvicorn
from click.testing import CliRunner
from distillguard.stream import api as api_package
from distillguard.stream.cli import main


@pytest.fixture
def captured(monkeypatch):
    seen: dict = {}

    def fake_create_app(url, **kwargs):
        seen.update(url=url, **kwargs)
        return "app"

    monkeypatch.setattr(api_package, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(ran=app))
    return seen


def test_api_uses_its_own_url_and_settings(captured):
    env = {"DISTILLGUARD_DATABASE_URL": "postgresql://worker@db/dg",
           "DISTILLGUARD_API_DATABASE_URL": "postgresql://api@db/dg",
           "DISTILLGUARD_ALLOWLIST_MAX_DAYS": "14", "DISTILLGUARD_API_MAX_BODY_BYTES": "2048"}
    result = CliRunner().invoke(main, ["api", "--no-kafka"], env=env)
    assert result.exit_code == 0, result.output
    assert captured["url"] == "postgresql://api@db/dg" and captured["ran"] == "app"
    assert captured["allowlist_max_days"] == 14.0 and captured["max_body_bytes"] == 2048


def test_api_falls_back_to_the_main_url_and_flag_wins(captured):
    env = {"DISTILLGUARD_DATABASE_URL": "postgresql://worker@db/dg"}
    assert CliRunner().invoke(main, ["api", "--no-kafka"], env=env).exit_code == 0
    assert captured["url"] == "postgresql://worker@db/dg"
    assert CliRunner().invoke(main, ["api", "--no-kafka", "--database-url",
                                     "postgresql://flag@db/dg"], env=env).exit_code == 0
    assert captured["url"] == "postgresql://flag@db/dg"
