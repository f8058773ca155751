"""Bearer tokens with the `ingest` scope, checked against the API's token table (hashes only).

Lookups run in a thread (SQLAlchemy is synchronous) and are cached for a short while, so an
exporter sending many requests a second does not cost a database round trip each; a revoked
token stops working within `ttl_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import sqlalchemy as sa
from distillguard.stream.api.auth import authenticate

SCOPE = "ingest"


class TokenCheck:
    def __init__(self, database_url: str, ttl_s: float = 30.0) -> None:
        self._engine = sa.create_engine(database_url, pool_pre_ping=True)
        self._cache: dict[str, tuple[bool, float]] = {}
        self.ttl_s = ttl_s

    async def allows(self, token: str) -> bool:
        key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        ok = await asyncio.to_thread(self._check, token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (ok, time.monotonic() + self.ttl_s)
        return ok

    def _check(self, token: str) -> bool:
        with self._engine.connect() as conn:
            principal = authenticate(conn, token)
        return principal is not None and principal.allows(SCOPE)

    def close(self) -> None:
        self._engine.dispose()
