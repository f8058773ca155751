"""Enforcement decisions in the database: the decider's idempotent writes and the bouncers' delta
stream.

Every change to a decision (insert, extension, deletion) takes the next `change_seq`. Writers
hold one transaction-scoped advisory lock from taking a number until commit, so numbers become
visible in order and a poller that has seen N has seen everything below N. Expiry is not a
write: a decision whose `expires_at` passed is reported as deleted by the stream at the first
poll after that moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from distillguard.models.outcomes import RiskUpdate
from distillguard.models.policy import InForce, PlannedAction, Scopes, Step, reconcile
from distillguard.sinks.schema import allowlist, bouncer_cursors, decision_progress, decisions
from sqlalchemy.dialects import postgresql, sqlite

LOCK_KEY = 0x64670003   # pg_advisory_xact_lock key shared by every writer of decisions


def aware(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass
class Change:
    op: str        # "new" (inserted or extended: upsert by decision_id) | "deleted"
    row: dict


def lock_changes(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})


def next_seqs(conn: sa.Connection, n: int) -> list[int]:
    """`n` fresh change numbers; call only while holding lock_changes."""
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        seqs = conn.execute(sa.text("SELECT nextval('decision_change_seq') "
                                    "FROM generate_series(1, :n)"), {"n": n}).scalars().all()
        return sorted(seqs)
    top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(decisions.c.change_seq), 0))
                       ).scalar_one()
    return list(range(top + 1, top + n + 1))


def active_allowlist(conn: sa.Connection, now: datetime,
                     accounts: Iterable[str] | None = None) -> dict[str, datetime]:
    """Allowlisted accounts (optionally only among `accounts`) -> when their entry expires."""
    query = sa.select(allowlist.c.account_id, allowlist.c.expires_at).where(
        allowlist.c.expires_at > now)
    if accounts is not None:
        query = query.where(allowlist.c.account_id.in_(list(accounts)))
    return {r.account_id: aware(r.expires_at) for r in conn.execute(query)}


def revoke_account(conn: sa.Connection, account_id: str, now: datetime,
                   why: str = "allowlisted") -> list[Change]:
    """Delete the account's active decisions (inside the caller's transaction)."""
    lock_changes(conn)
    rows = conn.execute(sa.select(decisions).where(
        decisions.c.account_id == account_id, decisions.c.deleted_at.is_(None),
        decisions.c.expires_at > now).order_by(decisions.c.decision_id)).mappings().all()
    changes = []
    for row, seq in zip(rows, next_seqs(conn, len(rows)), strict=True):
        values = {"deleted_at": now, "delete_reason": why, "change_seq": seq}
        conn.execute(decisions.update().where(decisions.c.decision_id == row["decision_id"])
                     .values(**values))
        changes.append(Change("deleted", {**row, **values}))
    return changes


class DecisionStore:
    """The decider's side: write the steps models/policy.py plans as durable decisions."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(database_url, pool_pre_ping=True)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" \
            else sqlite.insert

    def allowlist(self, now: datetime) -> dict[str, datetime]:
        with self.engine.connect() as conn:
            return active_allowlist(conn, now)

    def apply(self, items: list[tuple[RiskUpdate, list[PlannedAction]]], now: datetime,
              extend_below_fraction: float = 0.5) -> list[Change]:
        """Apply planned actions in risk-update order; the changes made, to announce (shadow
        ones included: the caller filters what bouncers see).

        An update at or below the account's applied `seq` changes nothing (a replay); instead
        the decisions it made are returned again, so a crash between this commit and the
        publish on Kafka still ends with them published (at least once).
        """
        items = sorted(items, key=lambda item: (item[0].account_id, item[0].seq))
        accounts = {u.account_id for u, _ in items}
        with self.engine.begin() as conn:
            lock_changes(conn)
            done = dict(conn.execute(sa.select(decision_progress.c.account_id,
                                               decision_progress.c.seq)
                                     .where(decision_progress.c.account_id.in_(accounts))).all())
            allowed = active_allowlist(conn, now, accounts)
            rows, in_force = self._active(conn, now, {(p.scope_type, p.scope_value)
                                                      for _, plan in items for p in plan})
            inserts: dict[str, dict] = {}
            updates: dict[str, Change] = {}
            replayed: list[tuple[str, int]] = []
            advanced: dict[str, int] = {}
            for update, planned in items:
                if update.seq <= done.get(update.account_id, -1):
                    replayed.append((update.account_id, update.seq))
                    continue
                done[update.account_id] = advanced[update.account_id] = update.seq
                if update.account_id in allowed:
                    continue
                steps = reconcile(update, planned, in_force, now.timestamp(),
                                  extend_below_fraction)
                for step in steps:
                    self._record(step, update, now, rows, inserts, updates)
            changes = self._write(conn, inserts, updates)
            self._save_progress(conn, advanced, now)
            if replayed:
                changes += self._made_by(conn, replayed)
        return changes

    @staticmethod
    def _active(conn, now: datetime, scopes: set[tuple[str, str]]) -> tuple[dict, Scopes]:
        """Rows of the decisions in force now on `scopes` (by id), and the planner's view."""
        rows: dict[str, dict] = {}
        in_force: Scopes = {}
        if not scopes:
            return rows, in_force
        found = conn.execute(sa.select(decisions).where(
            sa.tuple_(decisions.c.scope_type, decisions.c.scope_value).in_(list(scopes)),
            decisions.c.deleted_at.is_(None), decisions.c.expires_at > now)).mappings()
        for row in found:
            row = rows[row["decision_id"]] = {**row, "expires_at": aware(row["expires_at"])}
            key = (row["scope_type"], row["scope_value"], bool(row["shadow"]))
            in_force.setdefault(key, {})[row["action"]] = InForce(
                row["decision_id"], row["action"], row["expires_at"].timestamp())
        return rows, in_force

    @staticmethod
    def _record(step: Step, update: RiskUpdate, now: datetime, rows: dict[str, dict],
                inserts: dict[str, dict], updates: dict[str, Change]) -> None:
        """Turn one planned step into the row change to write (no deciding here)."""
        action = step.action
        if step.op == "supersede":
            # one added earlier in this batch is simply not written; one in the table is deleted
            if inserts.pop(step.decision_id, None) is None:
                row = rows[step.decision_id]
                row.update(deleted_at=now, delete_reason="superseded")
                updates[step.decision_id] = Change("deleted", row)
            return
        assert action is not None
        expires_at = now + timedelta(seconds=action.ttl_s)
        if step.op == "extend":
            row = inserts.get(step.decision_id) or rows[step.decision_id]
            row.update(expires_at=expires_at, risk=update.risk, reason=action.reason,
                       risk_seq=update.seq)
            if step.decision_id not in inserts:
                updates[step.decision_id] = Change("new", row)
            return
        row = {"decision_id": step.decision_id, "scope_type": action.scope_type,
               "scope_value": action.scope_value, "account_id": update.account_id,
               "action": action.action, "reason": action.reason, "risk": update.risk,
               "risk_seq": update.seq, "created_at": now, "expires_at": expires_at,
               "deleted_at": None, "delete_reason": None, "shadow": action.shadow}
        rows[step.decision_id] = inserts[step.decision_id] = row

    def _write(self, conn, inserts: dict[str, dict], updates: dict[str, Change]) -> list[Change]:
        """New decisions first, then extensions and deletions: a consumer applying them in
        order never has a gap between a weaker decision leaving and the stronger arriving."""
        seqs = iter(next_seqs(conn, len(inserts) + len(updates)))
        changes: list[Change] = []
        if inserts:
            rows = [{**row, "change_seq": next(seqs)} for row in inserts.values()]
            stmt = self._insert(decisions).on_conflict_do_nothing(index_elements=["decision_id"])
            written = set(conn.execute(stmt.returning(decisions.c.decision_id), rows).scalars())
            changes += [Change("new", row) for row in rows if row["decision_id"] in written]
        for change in sorted(updates.values(), key=lambda c: c.op != "new"):
            row = change.row
            row["change_seq"] = next(seqs)
            conn.execute(decisions.update().where(decisions.c.decision_id == row["decision_id"])
                         .values({k: row[k] for k in ("expires_at", "risk", "reason", "risk_seq",
                                                      "deleted_at", "delete_reason",
                                                      "change_seq")}))
            changes.append(change)
        return changes

    def _save_progress(self, conn, progress: dict[str, int], now: datetime) -> None:
        if not progress:
            return
        stmt = self._insert(decision_progress)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id"], set_={"seq": stmt.excluded.seq, "updated_at": now},
            where=decision_progress.c.seq < stmt.excluded.seq)
        conn.execute(stmt, [{"account_id": a, "seq": s, "updated_at": now}
                            for a, s in progress.items()])

    @staticmethod
    def _made_by(conn, updates: list[tuple[str, int]]) -> list[Change]:
        rows = conn.execute(sa.select(decisions).where(
            sa.tuple_(decisions.c.account_id, decisions.c.risk_seq).in_(updates))
            .order_by(decisions.c.change_seq)).mappings()
        return [Change("deleted" if r["deleted_at"] else "new", dict(r)) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


# -- the bouncers' side ---------------------------------------------------------------------

@dataclass
class StreamPage:
    new: list[dict]
    deleted: list[dict]


def poll(conn: sa.Connection, token_id: str, now: datetime, startup: bool) -> StreamPage:
    """What the token's bouncer must add and remove since its previous poll; moves its cursor.

    Run inside one REPEATABLE READ transaction so the rows and the new cursor agree. A token
    that never polled gets the start-up answer whatever `startup` says. Shadow decisions are
    never part of it.
    """
    cursor = conn.execute(sa.select(bouncer_cursors).where(
        bouncer_cursors.c.token_id == token_id)).mappings().first()
    top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(decisions.c.change_seq), 0))
                       ).scalar_one()
    enforced = decisions.c.shadow == sa.false()  # shadow decisions never reach a bouncer
    live = sa.and_(decisions.c.deleted_at.is_(None), decisions.c.expires_at > now)
    if startup or cursor is None:
        new = conn.execute(sa.select(decisions).where(live, enforced)
                           .order_by(decisions.c.change_seq))
        page = StreamPage([dict(r) for r in new.mappings()], [])
    else:
        last, polled = cursor["last_seq"], cursor["last_polled_at"]
        changed = decisions.c.change_seq > last
        new = conn.execute(sa.select(decisions).where(changed, live, enforced)
                           .order_by(decisions.c.change_seq))
        # gone: changed since and no longer in force, or in force then and expired since
        expired_since = sa.and_(decisions.c.deleted_at.is_(None),
                                decisions.c.expires_at > polled, decisions.c.expires_at <= now)
        gone = conn.execute(sa.select(decisions).where(
            sa.or_(sa.and_(changed, sa.not_(live)), expired_since), enforced)
            .order_by(decisions.c.change_seq))
        page = StreamPage([dict(r) for r in new.mappings()], [dict(r) for r in gone.mappings()])
    values = {"token_id": token_id, "last_seq": top, "last_polled_at": now}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(bouncer_cursors).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["token_id"],
                                            set_={"last_seq": top, "last_polled_at": now}))
    return page
