"""Reads the HTTP API needs that no other module offers: stored decisions by event id,
and an API client by its id alone (the token endpoint does not know the tenant yet)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from casework.errors import NotFound
from casework.models import ApiClient
from casework.recording import _stored_decisions
from engine.decision import Decision


def stored_decisions(
    session: Session, tenant: str, event_ids: Sequence[str]
) -> dict[str, tuple[Decision, tuple[int, ...]]]:
    """The decisions (and case ids) recorded for those of ``event_ids`` seen before."""
    return _stored_decisions(session, tenant, list(event_ids))


def get_decision(session: Session, tenant: str, event_id: str) -> tuple[Decision, tuple[int, ...]]:
    found = _stored_decisions(session, tenant, [event_id]).get(event_id)
    if found is None:
        raise NotFound(f"no decision for event {event_id!r}")
    return found


def find_client(session: Session, client_id: str) -> ApiClient | None:
    """The client with this id in any tenant, or None; the caller checks its secret and tenant."""
    return session.get(ApiClient, client_id)
