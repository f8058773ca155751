"""Run the Alembic migrations programmatically (`distillguard db upgrade`)."""

from __future__ import annotations

from pathlib import Path

import distillguard.migrations as migrations
from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    folder = Path(migrations.__file__).parent
    cfg = Config(str(folder / "alembic.ini"))
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head", **timeouts: float) -> None:
    """`timeouts`: connect_timeout_s, statement_timeout_s (see sinks/database.py)."""
    cfg = alembic_config(database_url)
    cfg.attributes["timeouts"] = timeouts
    command.upgrade(cfg, revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
