"""Alert lifecycle: one alert per account and reason group that escalates, with evidence,
a time window, example event ids, and the analyst's state and label.

Status values: open -> acknowledged -> resolved | false_positive.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("reason_group", sa.String(64), nullable=False,
                                   server_default="behaviour"))
        batch.add_column(sa.Column("window_start", TS))
        batch.add_column(sa.Column("window_end", TS))
        batch.add_column(sa.Column("example_event_ids", JSON, nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("escalations", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("acknowledged_at", TS))
        batch.add_column(sa.Column("resolved_at", TS))
        batch.add_column(sa.Column("label", sa.String(32)))
        batch.add_column(sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()))
    op.create_index("ix_alerts_status", "alerts", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status", "alerts")
    with op.batch_alter_table("alerts") as batch:
        for column in ("updated_at", "label", "resolved_at", "acknowledged_at", "escalations",
                       "example_event_ids", "window_end", "window_start", "reason_group"):
            batch.drop_column(column)
