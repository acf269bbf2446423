"""Managed lists (blocklists, allowlists...): current items plus the history of every add and remove."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import Conflict, InvalidInput, NotFound
from casework.models import ListItem, ListItemChange, ManagedList


class ItemChange(msgspec.Struct, frozen=True, kw_only=True):
    value: str
    op: str
    at: dt.datetime
    actor: str


def create_list(session: Session, ctx: Context, name: str, description: str = "") -> int:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a list name is 1 to 200 characters")
    if _find(session, ctx.tenant, name) is not None:
        raise Conflict(f"list {name!r} already exists")
    row = ManagedList(tenant_id=ctx.tenant, name=name, description=description, created_at=ctx.now)
    session.add(row)
    session.flush()
    audit.record(session, ctx, "list.created", "list", name, {"description": [None, description]})
    return row.id


def _find(session: Session, tenant: str, name: str) -> ManagedList | None:
    query = sa.select(ManagedList).where(ManagedList.tenant_id == tenant, ManagedList.name == name)
    return session.execute(query).scalar_one_or_none()


def _get(session: Session, tenant: str, name: str) -> ManagedList:
    found = _find(session, tenant, name)
    if found is None:
        raise NotFound(f"list {name!r} not found")
    return found


def _clean(values: Iterable[str]) -> list[str]:
    cleaned = sorted({v.strip() for v in values})
    if any(not v or len(v) > 500 for v in cleaned):
        raise InvalidInput("list items are 1 to 500 characters")
    return cleaned


def items(session: Session, tenant: str, name: str) -> list[str]:
    managed = _get(session, tenant, name)
    query = sa.select(ListItem.value).where(ListItem.list_id == managed.id).order_by(ListItem.value)
    return list(session.execute(query).scalars())


def add_items(session: Session, ctx: Context, name: str, values: Iterable[str]) -> list[str]:
    """Add values; returns those that were not already on the list."""
    managed = _get(session, ctx.tenant, name)
    wanted = _clean(values)
    present = set(items(session, ctx.tenant, name))
    new = [v for v in wanted if v not in present]
    if new:
        session.execute(
            sa.insert(ListItem),
            [
                {
                    "list_id": managed.id,
                    "value": v,
                    "tenant_id": ctx.tenant,
                    "added_at": ctx.now,
                    "added_by": str(ctx.actor),
                }
                for v in new
            ],
        )
        _history(session, ctx, managed.id, new, "add")
        audit.record(session, ctx, "list.items_added", "list", name, {"items": [None, new]})
    return new


def remove_items(session: Session, ctx: Context, name: str, values: Iterable[str]) -> list[str]:
    """Remove values; returns those that were on the list."""
    managed = _get(session, ctx.tenant, name)
    unwanted = _clean(values)
    present = set(items(session, ctx.tenant, name))
    gone = [v for v in unwanted if v in present]
    if gone:
        session.execute(sa.delete(ListItem).where(ListItem.list_id == managed.id, ListItem.value.in_(gone)))
        _history(session, ctx, managed.id, gone, "remove")
        audit.record(session, ctx, "list.items_removed", "list", name, {"items": [gone, None]})
    return gone


def _history(session: Session, ctx: Context, list_id: int, values: list[str], op: str) -> None:
    rows = [
        {
            "tenant_id": ctx.tenant,
            "list_id": list_id,
            "value": v,
            "op": op,
            "at": ctx.now,
            "actor": str(ctx.actor),
        }
        for v in values
    ]
    session.execute(sa.insert(ListItemChange), rows)


def history(session: Session, tenant: str, name: str) -> list[ItemChange]:
    managed = _get(session, tenant, name)
    rows = session.execute(
        sa.select(ListItemChange).where(ListItemChange.list_id == managed.id).order_by(ListItemChange.id)
    ).scalars()
    return [ItemChange(value=r.value, op=r.op, at=r.at, actor=r.actor) for r in rows]
