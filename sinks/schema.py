"""Tables the store writes, as SQLAlchemy Core metadata. The schema itself is created only by the
Alembic migrations in `migrations/`; this module mirrors it for queries and upserts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

account_risk = sa.Table(
    "account_risk", metadata,
    sa.Column("account_id", sa.String(128), primary_key=True),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("reasons", JSON, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("event_ts", TS, nullable=False),
    sa.Column("first_alert_at", TS),
    sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
)

risk_history = sa.Table(
    "risk_history", metadata,
    sa.Column("account_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("reasons", JSON, nullable=False),
    sa.Column("event_ts", TS, nullable=False),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(128), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("reasons", JSON, nullable=False),
    sa.Column("evidence", JSON, nullable=False),
    sa.Column("event_ts", TS, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("trigger_event_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    # 0002: lifecycle (status: open -> acknowledged -> resolved | false_positive)
    sa.Column("reason_group", sa.String(64), nullable=False, server_default="behaviour"),
    sa.Column("window_start", TS),
    sa.Column("window_end", TS),
    sa.Column("example_event_ids", JSON, nullable=False, server_default="[]"),
    sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
    sa.Column("acknowledged_at", TS),
    sa.Column("resolved_at", TS),
    sa.Column("label", sa.String(32)),          # true_positive | false_positive
    sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
)
ALERT_STATUSES = ("open", "acknowledged", "resolved", "false_positive")

# Read-only view for billing: one row per account, no evidence, no internals.
BILLING_VIEW = "billing_account_risk"
billing_account_risk = sa.Table(
    BILLING_VIEW, sa.MetaData(),
    sa.Column("account_id", sa.String(128)),
    sa.Column("risk", sa.Float),
    sa.Column("severity", sa.String(16)),
    sa.Column("flagged", sa.Boolean),
    sa.Column("first_alert_at", TS),
    sa.Column("updated_at", TS),
)
