"""Wire Structs for what casework hands back: the API serialises these, never the ORM rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from engine.decision import Hit


class CaseView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    queue: str
    key: str
    status: str
    disposition: str | None
    priority: str
    severity: str
    rule: str
    assignee_id: int | None
    event_count: int
    opened_at: dt.datetime
    updated_at: dt.datetime
    sla_due_at: dt.datetime
    snoozed_until: dt.datetime | None
    resolved_at: dt.datetime | None
    tags: tuple[str, ...] = ()


class CasePage(msgspec.Struct, frozen=True):
    items: tuple[CaseView, ...]
    #: pass back as ``after`` for the next page; None on the last page
    next_cursor: str | None = None


class NoteView(msgspec.Struct, frozen=True, kw_only=True):
    case_id: int
    note_id: str
    version: int
    body: str
    author: str
    created_at: dt.datetime


class TimelineView(msgspec.Struct, frozen=True, kw_only=True):
    at: dt.datetime
    actor: str
    action: str
    changes: dict[str, Any]


class CaseEventView(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    kind: str
    occurred_at: dt.datetime
    outcome: str | None
    score: float | None
    hits: tuple[Hit, ...] = ()
    payload: dict[str, Any] = {}


class CaseDetail(msgspec.Struct, frozen=True, kw_only=True):
    case: CaseView
    events: tuple[CaseEventView, ...]
    timeline: tuple[TimelineView, ...]
    notes: tuple[NoteView, ...]


class QueueView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    sla_policy: dict[str, Any] | None
    member_ids: tuple[int, ...] = ()
