"""Whether the client or user behind a token is still active, cached for a few seconds, so
disabling a client or deactivating a user takes effect within that time on every process."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.auth.tokens import Principal
from casework import lookups, tenants
from casework.db import transaction
from casework.errors import NotFound


class ActiveCheck:
    def __init__(self, db: Engine, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[bool, float]] = {}

    def cached(self, principal: Principal) -> bool | None:
        """The cached answer, or None when it must be looked up (``lookup``, in a worker thread)."""
        found = self._cache.get((principal.tenant, principal.subject))
        if found is None or time.monotonic() - found[1] > self.ttl:
            return None
        return found[0]

    def lookup(self, principal: Principal) -> bool:
        with transaction(self.db) as session:
            active = _active(session, principal)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[(principal.tenant, principal.subject)] = (active, time.monotonic())
        return active


def _active(session: Session, principal: Principal) -> bool:
    kind, _, ident = principal.subject.partition(":")
    if kind == "client":
        client = lookups.find_client(session, ident)
        return client is not None and client.active and client.tenant_id == principal.tenant
    if kind == "user" and ident.isdigit():
        try:
            return tenants.get_user(session, principal.tenant, int(ident)).active
        except NotFound:
            return False
    return False
