"""Reference data: keyed values per dataset that rules can look up; every write is audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.context import Context
from casework.errors import InvalidInput, NotFound
from casework.models import ReferenceData


def put(session: Session, ctx: Context, dataset: str, key: str, value: Any) -> None:
    """Set ``key`` in ``dataset`` to a JSON value (creating or replacing it)."""
    if not dataset or not key or len(dataset) > 200 or len(key) > 500:
        raise InvalidInput("a dataset name is 1 to 200 characters and a key 1 to 500")
    row = session.get(ReferenceData, (ctx.tenant, dataset, key))
    before = row.value if row is not None else None
    if row is None:
        session.add(
            ReferenceData(tenant_id=ctx.tenant, dataset=dataset, key=key, value=value, updated_at=ctx.now)
        )
    elif row.value == value:
        return
    else:
        row.value = value
        row.updated_at = ctx.now
    session.flush()
    audit.record(session, ctx, "reference.set", "reference", f"{dataset}/{key}", {"value": [before, value]})


def get(session: Session, tenant: str, dataset: str, key: str) -> Any:
    row = session.get(ReferenceData, (tenant, dataset, key))
    if row is None:
        raise NotFound(f"reference {dataset}/{key} not found")
    return row.value


def items(session: Session, tenant: str, dataset: str) -> dict[str, Any]:
    query = (
        sa.select(ReferenceData.key, ReferenceData.value)
        .where(ReferenceData.tenant_id == tenant, ReferenceData.dataset == dataset)
        .order_by(ReferenceData.key)
    )
    return {key: value for key, value in session.execute(query)}


def delete(session: Session, ctx: Context, dataset: str, key: str) -> None:
    row = session.get(ReferenceData, (ctx.tenant, dataset, key))
    if row is None:
        raise NotFound(f"reference {dataset}/{key} not found")
    before = row.value
    session.delete(row)
    session.flush()
    audit.record(
        session, ctx, "reference.deleted", "reference", f"{dataset}/{key}", {"value": [before, None]}
    )
