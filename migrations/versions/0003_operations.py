"""Operations: API tokens, allowlist, enforcement decisions and their delta stream, analyst labels.

- api_tokens: bearer tokens, stored as SHA-256 hashes only, with scopes.
- allowlist: accounts that get no enforcement decisions until `expires_at`.
- decisions: what bouncers enforce. `change_seq` grows on every insert, extension and deletion
  (PostgreSQL sequence `decision_change_seq`; writers serialize on an advisory lock, so commit
  order is sequence order) and is what the delta stream's per-token cursors point into.
- decision_progress: the newest risk `seq` per account the decider has applied, so a replay of
  the risk topic never creates decisions twice.
- bouncer_cursors: per token, the last change_seq and poll time the stream has returned.
- alert_labels: every analyst label with its note; `published_at` is set once the feedback
  message reached Kafka (an outbox: the label is stored first, publishing is retried).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ux_api_tokens_active_name", "api_tokens", ["name"], unique=True,
                    postgresql_where=sa.text("revoked_at IS NULL"),
                    sqlite_where=sa.text("revoked_at IS NULL"))
    op.create_table(
        "allowlist",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("scope_type", sa.String(16), nullable=False),
        sa.Column("scope_value", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("risk_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("deleted_at", TS),
        sa.Column("delete_reason", sa.String(32)),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.CheckConstraint("scope_type IN ('account', 'api_key', 'ip')", name="ck_decisions_scope"),
        sa.CheckConstraint("action IN ('monitor', 'throttle', 'strip_logprobs', 'block')",
                           name="ck_decisions_action"),
    )
    op.create_index("ux_decisions_change_seq", "decisions", ["change_seq"], unique=True)
    op.create_index("ix_decisions_account_id", "decisions", ["account_id", "risk_seq"])
    op.create_index("ix_decisions_active_scope", "decisions", ["scope_type", "scope_value"],
                    postgresql_where=sa.text("deleted_at IS NULL"),
                    sqlite_where=sa.text("deleted_at IS NULL"))
    op.create_index("ix_decisions_expires_at", "decisions", ["expires_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE decision_change_seq")
    op.create_table(
        "decision_progress",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "bouncer_cursors",
        sa.Column("token_id", sa.String(16),
                  sa.ForeignKey("api_tokens.token_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_polled_at", TS, nullable=False),
    )
    op.create_table(
        "alert_labels",
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("note", sa.String(1000)),
        sa.Column("reason_codes", JSON, nullable=False),
        sa.Column("labelled_by", sa.String(64), nullable=False),
        sa.Column("labelled_at", TS, nullable=False),
        sa.Column("published_at", TS),
    )
    op.create_index("ix_alert_labels_alert_id", "alert_labels", ["alert_id"])
    op.create_index("ix_alert_labels_unpublished", "alert_labels", ["label_id"],
                    postgresql_where=sa.text("published_at IS NULL"),
                    sqlite_where=sa.text("published_at IS NULL"))


def downgrade() -> None:
    op.drop_table("alert_labels")
    op.drop_table("bouncer_cursors")
    op.drop_table("decision_progress")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE decision_change_seq")
    op.drop_table("decisions")
    op.drop_table("allowlist")
    op.drop_table("api_tokens")
