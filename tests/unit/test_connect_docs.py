"""docs/connect-litellm.md shows configurations that work: its `callbacks:` value loads with
LiteLLM's own loader, and its example settings are settings distillguard knows."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from distillguard.stream.config import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "connect-litellm.md").read_text()


def test_proxy_config_callback_loads_with_litellms_loader(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    pytest.importorskip("litellm")
    from distillguard.stream.gateways.litellm_callback import DistillguardCallback
    from litellm.proxy.types_utils.utils import get_instance_fn

    [value] = re.findall(r"^\s+callbacks: (\S+)$", DOC, flags=re.M)
    monkeypatch.setenv("DISTILLGUARD_BROKER", "127.0.0.1:9")
    for key in [k for k in os.environ if k.startswith("DISTILLGUARD_") and k != "DISTILLGUARD_BROKER"]:
        monkeypatch.delenv(key)
    import distillguard.stream.gateways.litellm_callback as module

    module.__dict__.pop("distillguard_callback", None)
    instance = get_instance_fn(value)
    assert isinstance(instance, DistillguardCallback) and instance.settings.broker == "127.0.0.1:9"


def test_every_setting_the_page_names_exists():
    named = set(re.findall(r"DISTILLGUARD_([A-Z_]+[A-Z])", DOC))
    known = {name.upper() for name in Settings.__dataclass_fields__}
    prefixes = {"KAFKA", "LITELLM", "BOUNCER"}  # "_SASL_PASSWORD"-style short forms in tables
    assert len(named) > 15
    missing = {n for n in named if n not in known and n not in prefixes}
    assert not missing, missing
