"""Alembic environment: online migrations against the URL `distillguard db upgrade` passes in."""

from alembic import context
from distillguard.sinks.database import create_engine

url = context.config.get_main_option("sqlalchemy.url")
connectable = create_engine(url, **context.config.attributes.get("timeouts", {}))
with connectable.connect() as connection:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
