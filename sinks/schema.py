"""Tables the store writes, as SQLAlchemy Core metadata. The schema itself is created only by the
Alembic migrations in `migrations/`; this module mirrors it for queries and upserts, indexes and
constraints included. tests/integration/test_schema_sync.py applies the migrations to PostgreSQL
and SQLite and fails on any difference Alembic's autogenerate finds: a migration that changes the
schema changes this file in the same commit."""

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
    sa.Index("ix_account_risk_risk", "risk"),
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
    sa.Index("ix_alerts_status", "status"),
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

# 0003: operations (API tokens, allowlist, enforcement decisions, analyst labels)
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),     # SHA-256 hex; never the token
    sa.Column("scopes", JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("revoked_at", TS),
    sa.Column("expires_at", TS),                                # 0005; NULL = never
    sa.Index("ux_api_tokens_active_name", "name", unique=True,   # one active token per name
             postgresql_where=sa.text("revoked_at IS NULL"),
             sqlite_where=sa.text("revoked_at IS NULL")),
)

allowlist = sa.Table(
    "allowlist", metadata,
    sa.Column("account_id", sa.String(128), primary_key=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("scope_type", sa.String(16), nullable=False),     # account | api_key | ip
    sa.Column("scope_value", sa.String(128), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),         # monitor|throttle|strip_logprobs|block
    sa.Column("reason", sa.String(256), nullable=False),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("risk_seq", sa.BigInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("deleted_at", TS),
    sa.Column("delete_reason", sa.String(32)),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()),  # 0005
    sa.CheckConstraint("scope_type IN ('account', 'api_key', 'ip')", name="ck_decisions_scope"),
    sa.CheckConstraint("action IN ('monitor', 'throttle', 'strip_logprobs', 'block')",
                       name="ck_decisions_action"),
    sa.Index("ux_decisions_change_seq", "change_seq", unique=True),
    sa.Index("ix_decisions_account_id", "account_id", "risk_seq"),
    sa.Index("ix_decisions_active_scope", "scope_type", "scope_value",
             postgresql_where=sa.text("deleted_at IS NULL"),
             sqlite_where=sa.text("deleted_at IS NULL")),
    sa.Index("ix_decisions_expires_at", "expires_at"),
)

decision_progress = sa.Table(
    "decision_progress", metadata,
    sa.Column("account_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
)

bouncer_cursors = sa.Table(
    "bouncer_cursors", metadata,
    sa.Column("token_id", sa.String(16), sa.ForeignKey("api_tokens.token_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_polled_at", TS, nullable=False),
)

alert_labels = sa.Table(
    "alert_labels", metadata,
    sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("label", sa.String(32), nullable=False),          # true_positive | false_positive
    sa.Column("note", sa.String(1000)),
    sa.Column("reason_codes", JSON, nullable=False),
    sa.Column("labelled_by", sa.String(64), nullable=False),
    sa.Column("labelled_at", TS, nullable=False),
    sa.Column("published_at", TS),                              # feedback reached Kafka
    sa.Index("ix_alert_labels_alert_id", "alert_id"),
    sa.Index("ix_alert_labels_unpublished", "label_id",         # the outbox's pending rows
             postgresql_where=sa.text("published_at IS NULL"),
             sqlite_where=sa.text("published_at IS NULL")),
)
