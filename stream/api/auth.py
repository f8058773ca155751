"""Bearer tokens with scopes.

A token is `dg_<token_id>.<secret>` and exists in clear only once, when `distillguard token
create` prints it; the database keeps its SHA-256. The id finds the row, the hash is compared in
constant time (`hmac.compare_digest`), so neither a missing id nor a near-miss secret shows in
response times.

Scopes (admin implies all; triage and allowlist imply risk:read, for the account context):
    risk:read       billing: account risk
    triage          SecOps: alerts, labels, reading the allowlist (+ risk:read)
    allowlist       adding and removing allowlist entries (lifts enforcement; + risk:read)
    decisions:read  bouncers: the decisions stream, nothing else
    admin           everything

A token may carry an expiry (`token create --expires 30d`); after it, it is refused like a
revoked one, with a message that says it expired.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from distillguard.sinks.schema import api_tokens

SCOPES = ("risk:read", "triage", "allowlist", "decisions:read", "admin")
IMPLIES = {"admin": frozenset(SCOPES), "triage": frozenset({"triage", "risk:read"}),
           "allowlist": frozenset({"allowlist", "risk:read"}),
           "risk:read": frozenset({"risk:read"}), "decisions:read": frozenset({"decisions:read"})}
TOKEN_RE = re.compile(r"^dg_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    scopes: frozenset[str]   # effective: implied scopes included
    expires_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and _aware(self.expires_at) <= now

    def expiry_text(self) -> str:
        return "never" if self.expires_at is None else \
            _aware(self.expires_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def effective(scopes: list[str]) -> frozenset[str]:
    return frozenset().union(*(IMPLIES.get(s, frozenset()) for s in scopes))


def create_token(engine: sa.Engine, name: str, scopes: list[str],
                 expires_at: datetime | None = None) -> str:
    """Store a new token's hash; return the token (the only time it is seen in clear)."""
    now = datetime.now(tz=UTC)
    if expires_at is not None and not _aware(expires_at) > now:
        raise ValueError(f"expiry {expires_at.isoformat()} is not in the future")
    if not NAME_RE.match(name):
        raise ValueError("name: 1-64 of letters, digits, '.', '_' or '-', starting alphanumeric")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {unknown or 'none'}")
    token_id = secrets.token_hex(8)
    token = f"dg_{token_id}.{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        taken = conn.execute(sa.select(api_tokens.c.token_id).where(
            api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).first()
        if taken:
            raise ValueError(f"an active token named {name!r} exists; revoke it first")
        conn.execute(api_tokens.insert().values(
            token_id=token_id, name=name, token_hash=hash_token(token),
            scopes=sorted(set(scopes)), created_at=now, expires_at=expires_at))
    return token


def revoke_token(engine: sa.Engine, name_or_id: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(api_tokens.update().where(
            sa.or_(api_tokens.c.name == name_or_id, api_tokens.c.token_id == name_or_id),
            api_tokens.c.revoked_at.is_(None)).values(revoked_at=datetime.now(tz=UTC)))
        return result.rowcount


def list_tokens(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(api_tokens.c.token_id, api_tokens.c.name,
                                      api_tokens.c.scopes, api_tokens.c.created_at,
                                      api_tokens.c.revoked_at, api_tokens.c.expires_at)
                            .order_by(api_tokens.c.created_at)).all()


def authenticate(conn: sa.Connection, token: str) -> Principal | None:
    """The token's principal, or None if it is malformed, unknown, revoked or wrong. An
    expired token still authenticates: the caller refuses it with its own message."""
    match = TOKEN_RE.match(token)
    row = None
    if match:
        row = conn.execute(sa.select(api_tokens).where(
            api_tokens.c.token_id == match.group(1),
            api_tokens.c.revoked_at.is_(None))).mappings().first()
    stored = row["token_hash"] if row else _DUMMY_HASH
    if not hmac.compare_digest(hash_token(token), stored) or row is None:
        return None
    return Principal(row["token_id"], row["name"], effective(row["scopes"]), row["expires_at"])
