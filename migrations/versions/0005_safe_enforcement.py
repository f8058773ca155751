"""Safe enforcement and a least-privilege API: shadow decisions, token expiry, the API's role.

- decisions.shadow: decisions of a policy rule in shadow (simulation) mode. They are recorded
  like any other and never published to the decisions topic or the bouncers' stream.
- api_tokens.expires_at: optional; an expired token is refused (401) like a revoked one.
- role distillguard_api (PostgreSQL, NOLOGIN; grant it to the API's login user): reads risk,
  alerts, decisions, allowlist and tokens, and writes only what triage writes: an alert's status
  and label, analyst labels, the allowlist, a decision's deletion by the allowlist, and the
  bouncers' cursors. It cannot write account_risk, risk_history or create decisions.
  A later migration that gives the API a new table must grant it here too.

Revision ID: 0005
Revises: 0003 (the head when this was written; re-chain after 0004 if that lands first)
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLE = "distillguard_api"
READ = ("account_risk", "risk_history", "alerts", "billing_account_risk", "api_tokens",
        "allowlist", "decisions", "bouncer_cursors", "alert_labels")
WRITE = {  # table -> privileges (column lists where only some columns may change)
    "alerts": "UPDATE (status, label, acknowledged_at, resolved_at, updated_at)",
    "alert_labels": "INSERT, UPDATE (published_at)",
    "allowlist": "INSERT, UPDATE, DELETE",
    "decisions": "UPDATE (deleted_at, delete_reason, change_seq)",
    "bouncer_cursors": "INSERT, UPDATE",
}


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("shadow", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name != "postgresql":
        return
    # Roles are per server, not per database: create it once, grant in every database.
    op.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') "
               f"THEN CREATE ROLE {ROLE} NOLOGIN; END IF; END $$")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT ON {', '.join(READ)} TO {ROLE}")
    for table, privileges in WRITE.items():
        op.execute(f"GRANT {privileges} ON {table} TO {ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE decision_change_seq TO {ROLE}")
    op.execute("DO $$ BEGIN EXECUTE format('GRANT USAGE ON SEQUENCE %s TO " + ROLE + "', "
               "pg_get_serial_sequence('alert_labels', 'label_id')); END $$")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"REVOKE ALL ON {', '.join(READ)} FROM {ROLE}")
        op.execute(f"REVOKE ALL ON SEQUENCE decision_change_seq FROM {ROLE}")
        op.execute("DO $$ BEGIN EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM " + ROLE + "', "
                   "pg_get_serial_sequence('alert_labels', 'label_id')); END $$")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("shadow")
