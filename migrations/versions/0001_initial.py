"""Current risk per account, risk history, alerts, and the billing view.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_risk",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_ts", TS, nullable=False),
        sa.Column("first_alert_at", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_account_risk_risk", "account_risk", ["risk"])
    op.create_table(
        "risk_history",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("event_ts", TS, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("event_ts", TS, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("trigger_event_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_alerts_account_id", "alerts", ["account_id"])
    op.execute(
        "CREATE VIEW billing_account_risk AS "
        "SELECT account_id, risk, severity, severity IN ('high', 'critical') AS flagged, "
        "first_alert_at, updated_at FROM account_risk"
    )
    if op.get_bind().dialect.name == "postgresql":
        # A role billing systems can be granted: it sees the view and nothing else.
        op.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            "'distillguard_billing') THEN CREATE ROLE distillguard_billing NOLOGIN; END IF; END $$"
        )
        op.execute("GRANT SELECT ON billing_account_risk TO distillguard_billing")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("REVOKE SELECT ON billing_account_risk FROM distillguard_billing")
    op.execute("DROP VIEW billing_account_risk")
    op.drop_table("alerts")
    op.drop_table("risk_history")
    op.drop_table("account_risk")
