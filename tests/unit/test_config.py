import pytest
from distillguard.stream.config import ConfigError, Settings


def test_env_then_overrides():
    s = Settings.load({"DISTILLGUARD_PARTITIONS": "8", "DISTILLGUARD_BROKER": "a:1"}, broker="b:2")
    assert (s.partitions, s.broker) == (8, "b:2")


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="DISTILLGUARD_BROKR"):
        Settings.load({"DISTILLGUARD_BROKR": "x"})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match="DISTILLGUARD_PARTITIONS"):
        Settings.load({"DISTILLGUARD_PARTITIONS": "many"})


def test_script_only_keys_are_accepted():
    Settings.load({"DISTILLGUARD_RUN_DIR": "/tmp/x", "DISTILLGUARD_CACHE": "/tmp/c"})
