"""Retention: purge a tenant's events and decisions older than its retention period.

Only events, their decisions and their links to cases go; cases, notes, labels and
the audit trail stay (audit entries name events by id and never embed them, so the
chain still verifies). Each purge appends one audit entry with what it removed.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit
from casework.canonical import canonical_time
from casework.context import Context
from casework.models import CaseEvent, DecisionRecord, EventRecord, Tenant
from casework.tenants import get_tenant


class PurgeReport(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    cutoff: dt.datetime | None
    events: int = 0
    decisions: int = 0
    case_links: int = 0


def purge(session: Session, ctx: Context) -> PurgeReport:
    """Purge ``ctx.tenant``'s events received before ``ctx.now - retention_days``.

    A tenant without a retention period keeps everything (cutoff None).
    """
    tenant = get_tenant(session, ctx.tenant)
    if tenant.retention_days is None:
        return PurgeReport(tenant=ctx.tenant, cutoff=None)
    cutoff = ctx.now - dt.timedelta(days=tenant.retention_days)
    old = sa.select(EventRecord.id).where(
        EventRecord.tenant_id == ctx.tenant, EventRecord.received_at < cutoff
    )
    links = _delete(
        session, sa.delete(CaseEvent).where(CaseEvent.tenant_id == ctx.tenant, CaseEvent.event_pk.in_(old))
    )
    decisions = _delete(
        session,
        sa.delete(DecisionRecord).where(
            DecisionRecord.tenant_id == ctx.tenant, DecisionRecord.event_pk.in_(old)
        ),
    )
    events = _delete(
        session,
        sa.delete(EventRecord).where(EventRecord.tenant_id == ctx.tenant, EventRecord.received_at < cutoff),
    )
    report = PurgeReport(
        tenant=ctx.tenant, cutoff=cutoff, events=events, decisions=decisions, case_links=links
    )
    changes = {
        "cutoff": [None, canonical_time(cutoff)],
        "retention_days": [None, tenant.retention_days],
        "events": [None, events],
        "decisions": [None, decisions],
        "case_links": [None, links],
    }
    audit.record(session, ctx, "retention.purged", "tenant", ctx.tenant, changes)
    return report


def _delete(session: Session, statement: sa.Delete) -> int:
    result = session.execute(statement)
    assert isinstance(result, sa.CursorResult)
    return result.rowcount


def tenants_with_retention(session: Session) -> list[str]:
    query = sa.select(Tenant.id).where(Tenant.retention_days.is_not(None)).order_by(Tenant.id)
    return list(session.execute(query).scalars())
