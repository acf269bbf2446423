"""Case notes: append-only. Editing a note adds its next version; every version is kept."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import case_store
from casework.context import Context
from casework.errors import InvalidInput, NotFound
from casework.models import CaseNote
from casework.views import NoteView

MAX_NOTE = 20_000


def _check(body: str) -> str:
    body = body.strip()
    if not body:
        raise InvalidInput("a note cannot be empty")
    if len(body) > MAX_NOTE:
        raise InvalidInput(f"a note is at most {MAX_NOTE} characters")
    return body


def _view(note: CaseNote) -> NoteView:
    return NoteView(
        case_id=note.case_id,
        note_id=note.note_id,
        version=note.version,
        body=note.body,
        author=note.author,
        created_at=note.created_at,
    )


def add_note(session: Session, ctx: Context, case_id: int, body: str) -> NoteView:
    text = _check(body)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    note = CaseNote(
        tenant_id=ctx.tenant,
        case_id=case.id,
        note_id=str(uuid.uuid4()),
        version=1,
        body=text,
        author=str(ctx.actor),
        created_at=ctx.now,
    )
    session.add(note)
    case_store.apply(
        session, ctx, case, "noted", {}, extra={"note_id": note.note_id, "version": 1, "body": text}
    )
    return _view(note)


def edit_note(session: Session, ctx: Context, case_id: int, note_id: str, body: str) -> NoteView:
    """Write the next version of a note; the earlier versions stay readable."""
    text = _check(body)
    case = case_store.load(session, ctx.tenant, case_id, for_update=True)
    latest = _latest(session, ctx.tenant, case_id, note_id)
    if latest.body == text:
        return _view(latest)
    note = CaseNote(
        tenant_id=ctx.tenant,
        case_id=case.id,
        note_id=note_id,
        version=latest.version + 1,
        body=text,
        author=str(ctx.actor),
        created_at=ctx.now,
    )
    session.add(note)
    extra = {"note_id": note_id, "version": note.version, "body": text, "previous_body": latest.body}
    case_store.apply(session, ctx, case, "note_edited", {}, extra=extra)
    return _view(note)


def _latest(session: Session, tenant: str, case_id: int, note_id: str) -> CaseNote:
    note = session.execute(
        sa.select(CaseNote)
        .where(CaseNote.tenant_id == tenant, CaseNote.case_id == case_id, CaseNote.note_id == note_id)
        .order_by(CaseNote.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if note is None:
        raise NotFound(f"note {note_id} not found on case {case_id}")
    return note


def notes(session: Session, tenant: str, case_id: int) -> list[NoteView]:
    """The current version of every note on a case, oldest note first."""
    case_store.load(session, tenant, case_id)
    rows = session.execute(
        sa.select(CaseNote)
        .where(CaseNote.tenant_id == tenant, CaseNote.case_id == case_id)
        .order_by(CaseNote.id)
    ).scalars()
    current: dict[str, CaseNote] = {}
    for row in rows:
        # a dict keeps a key where it was first inserted: notes stay in creation order
        current[row.note_id] = row
    return [_view(n) for n in current.values()]


def history(session: Session, tenant: str, case_id: int, note_id: str) -> list[NoteView]:
    """Every version of one note, first to last."""
    rows = session.execute(
        sa.select(CaseNote)
        .where(CaseNote.tenant_id == tenant, CaseNote.case_id == case_id, CaseNote.note_id == note_id)
        .order_by(CaseNote.version)
    ).scalars()
    found = [_view(r) for r in rows]
    if not found:
        raise NotFound(f"note {note_id} not found on case {case_id}")
    return found
