"""Labels: ground truth per event, from dispositions (``case``) or sent by integrators (``api``).

Labels are appended, never edited; the latest label of an event is its truth. Detector
feedback and model training read them through ``latest``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import InvalidInput
from casework.models import Label

LABELS: Final[tuple[str, ...]] = ("fraud", "legitimate", "inconclusive")


class LabelView(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    label: str
    source: str
    case_id: int | None
    actor: str
    created_at: dt.datetime


def add_label(session: Session, ctx: Context, event_id: str, label: str) -> LabelView:
    """An integrator's label for one event (it need not have been stored here)."""
    if label not in LABELS:
        raise InvalidInput(f"unknown label {label!r}; labels are {', '.join(LABELS)}")
    if not event_id or len(event_id) > 200:
        raise InvalidInput("an event id is 1 to 200 characters")
    row = Label(
        tenant_id=ctx.tenant,
        event_id=event_id,
        label=label,
        source="api",
        case_id=None,
        actor=str(ctx.actor),
        created_at=ctx.now,
    )
    session.add(row)
    session.flush()
    audit.record(session, ctx, "label.added", "event", event_id, {"label": [None, label]})
    return _view(row)


def _view(row: Label) -> LabelView:
    return LabelView(
        event_id=row.event_id,
        label=row.label,
        source=row.source,
        case_id=row.case_id,
        actor=row.actor,
        created_at=row.created_at,
    )


def latest(session: Session, tenant: str, event_ids: Sequence[str]) -> dict[str, LabelView]:
    """The most recent label of each event that has one."""
    found: dict[str, LabelView] = {}
    for start in range(0, len(event_ids), 1000):
        chunk = event_ids[start : start + 1000]
        rows = session.execute(
            sa.select(Label).where(Label.tenant_id == tenant, Label.event_id.in_(chunk)).order_by(Label.id)
        ).scalars()
        for row in rows:
            found[row.event_id] = _view(row)
    return found
