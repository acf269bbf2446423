"""Who does what, for which tenant, when: the first argument of every service call."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

ActorType = Literal["user", "client", "system"]


def utcnow() -> dt.datetime:
    """The wall clock in UTC, truncated to microseconds like both databases store it."""
    return dt.datetime.now(dt.UTC)


class Actor(msgspec.Struct, frozen=True):
    """A person (``user``), an API client (``client``) or Vigil itself (``system``)."""

    type: ActorType
    id: str

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


SYSTEM = Actor("system", "vigil")


class Context(msgspec.Struct, frozen=True):
    """The tenant every read and write is confined to, and the actor recorded in the audit trail.

    ``now`` is fixed when the context is made so one action has one time everywhere
    (timeline, audit entry, outbox row).
    """

    tenant: str
    actor: Actor = SYSTEM
    request_id: str | None = None
    now: dt.datetime = msgspec.field(default_factory=utcnow)

    def at(self, now: dt.datetime) -> Context:
        """The same context at another time (tests, replays)."""
        return msgspec.structs.replace(self, now=now)
