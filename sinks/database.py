"""Every database engine is made here, so none can wait forever: a connect timeout (TCP, TLS and
login, against a host that accepts connections and never answers) and a statement timeout.

`describe_error` turns a driver error into one line that says what to check.
"""

from __future__ import annotations

import math
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

CONNECT_TIMEOUT_S = 10.0     # the defaults of Settings.database_*_timeout_s
STATEMENT_TIMEOUT_S = 60.0


def create_engine(url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                  statement_timeout_s: float = STATEMENT_TIMEOUT_S, **kwargs: Any) -> sa.Engine:
    """`sqlalchemy.create_engine` with bounded waits. Raises sa.exc.ArgumentError for a URL that
    does not parse and sa.exc.NoSuchModuleError for an unknown database kind."""
    parsed = make_url(url)
    connect_args = dict(kwargs.pop("connect_args", {}))
    if parsed.get_backend_name() == "postgresql":
        # libpq counts whole seconds; statement_timeout is in milliseconds.
        connect_args.setdefault("connect_timeout", max(1, math.ceil(connect_timeout_s)))
        connect_args.setdefault(
            "options", f"-c statement_timeout={round(statement_timeout_s * 1000)}")
    elif parsed.get_backend_name() == "sqlite":
        connect_args.setdefault("timeout", statement_timeout_s)  # waiting for a locked file
    return sa.create_engine(parsed, connect_args=connect_args, **kwargs)


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


# (pattern in the driver's message, what it means and what to do)
_HINTS = [
    ("timeout expired", "no answer within the connect timeout (DISTILLGUARD_DATABASE_CONNECT_"
                        "TIMEOUT_S): is that host:port a PostgreSQL server, and reachable?"),
    ("password authentication failed", "login refused: check the user and password in the URL"),
    ("no password supplied", "the server wants a password: put it in the URL"),
    (r'(database|role) "[^"]*" does not exist', "no such database or user: create it, or fix "
                                                 "the URL"),
    ("connection refused", "connection refused: is PostgreSQL running there?"),
    ("could not translate host name", "unknown host name: check the host in the URL"),
    ("statement timeout", "a statement ran longer than DISTILLGUARD_DATABASE_STATEMENT_TIMEOUT_S"),
    ("unable to open database file", "cannot open the SQLite file: does its folder exist?"),
]


def describe_error(err: sa.exc.SQLAlchemyError, url: str) -> str:
    """One line: which database, what went wrong, what to do."""
    if isinstance(err, sa.exc.NoSuchModuleError):
        return (f"{redact(url)}: unknown kind of database ({err}); use postgresql+psycopg2:// "
                "or sqlite:///")
    if isinstance(err, sa.exc.ArgumentError):
        return f"not a database URL: {err}"
    detail = str(getattr(err, "orig", None) or err)
    first = " ".join(line.strip() for line in detail.splitlines() if line.strip())
    for pattern, hint in _HINTS:
        if re.search(pattern, first, re.IGNORECASE):
            return f"database at {redact(url)}: {hint} ({first[:300]})"
    return f"database at {redact(url)}: {first[:300]}"


def is_missing_table(err: sa.exc.DBAPIError) -> bool:
    """Did the statement fail because the schema is not there (no `db upgrade` yet)?"""
    code = getattr(err.orig, "pgcode", None)
    return code == "42P01" or "no such table" in str(err.orig)
