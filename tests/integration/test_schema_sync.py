"""The migrated schema is the schema the code believes in.

Two sources describe the tables: the Alembic migrations (what a database really gets) and
sinks/schema.py (what queries and upserts are written against). Here the migrations are applied
to a real PostgreSQL and to SQLite, and Alembic's autogenerate compares the result with the
metadata: any difference (a column, type, nullability, server default, index, unique or foreign
key) fails the test. Check constraints, which autogenerate ignores, are compared by name.
"""

from __future__ import annotations

import pprint

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from distillguard.sinks.migrate import upgrade
from distillguard.sinks.schema import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request, tmp_path):
    """A database at the head revision, and its engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'schema.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_migrations_and_schema_module_agree(migrated):
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "migrations and sinks/schema.py differ:\n" + pprint.pformat(
        differences)


def test_check_constraints_agree(migrated):
    inspector = sa.inspect(migrated)
    for table in metadata.sorted_tables:
        declared = {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        migrated_names = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert declared == migrated_names, table.name


def test_every_table_is_declared(migrated):
    """A table a migration creates but schema.py does not know is invisible to the comparison."""
    tables = set(sa.inspect(migrated).get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)
