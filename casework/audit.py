"""Appending to and verifying each tenant's hash-chained audit trail.

An entry's hash is SHA-256 over the canonical JSON of its fields plus the previous
entry's hash. Appenders lock the tenant's ``audit_heads`` row, so sequence numbers
have no gaps and the chain never forks, however many writers there are; services
append last in their transaction so that lock is held briefly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import bulk
from casework.canonical import GENESIS_HASH, canonical_time, chain_hash
from casework.context import Context
from casework.errors import NotFound
from casework.models import AuditEntry, AuditHead, Tenant
from casework.sql import upsert_insert

_encoder = msgspec.json.Encoder()

#: the columns covered by the hash, in the order they are exported
HASHED_FIELDS: tuple[str, ...] = (
    "tenant_id",
    "seq",
    "at",
    "actor_type",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "changes",
    "request_id",
)


class AuditDraft(msgspec.Struct, frozen=True):
    """An entry before it has a place in the chain. ``changes`` is ``{field: [before, after]}``."""

    action: str
    object_type: str
    object_id: str
    changes: Mapping[str, Any] = {}


class VerifyResult(msgspec.Struct, frozen=True):
    """Outcome of walking one tenant's chain; ``first_broken_seq`` is None when it is intact."""

    tenant: str
    ok: bool
    entries: int
    last_seq: int
    first_broken_seq: int | None = None
    problem: str | None = None


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for the fields whose value changed."""
    return {
        k: [before.get(k), after.get(k)]
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


def hashed_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of a stored or exported entry, in canonical form."""
    fields = {name: entry[name] for name in HASHED_FIELDS}
    at = fields["at"]
    fields["at"] = at if isinstance(at, str) else canonical_time(at)
    return fields


def append(session: Session, ctx: Context, drafts: Sequence[AuditDraft]) -> list[int]:
    """Append ``drafts`` to ``ctx.tenant``'s chain in this transaction; returns their sequence numbers."""
    if not drafts:
        return []
    seq, prev_hash = _lock_head(session, ctx.tenant)
    at = canonical_time(ctx.now)
    rows: list[dict[str, Any]] = []
    for draft in drafts:
        seq += 1
        # Through JSON and back: what is hashed is exactly what the column will hold.
        changes = msgspec.json.decode(_encoder.encode(draft.changes))
        fields = {
            "tenant_id": ctx.tenant,
            "seq": seq,
            "at": at,
            "actor_type": ctx.actor.type,
            "actor_id": ctx.actor.id,
            "action": draft.action,
            "object_type": draft.object_type,
            "object_id": draft.object_id,
            "changes": changes,
            "request_id": ctx.request_id or None,
        }
        digest = chain_hash(fields, prev_hash)
        rows.append({**fields, "at": ctx.now, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    bulk.insert_rows(session, AuditEntry, rows)
    session.execute(
        sa.update(AuditHead)
        .where(AuditHead.tenant_id == ctx.tenant)
        .values(last_seq=seq, last_hash=prev_hash, updated_at=ctx.now)
    )
    return [row["seq"] for row in rows]


def record(
    session: Session, ctx: Context, action: str, object_type: str, object_id: str, changes: Mapping[str, Any]
) -> int:
    """Append one entry (sign-ins, token issue, exports...); returns its sequence number."""
    return append(session, ctx, [AuditDraft(action, object_type, object_id, changes)])[0]


def _lock_head(session: Session, tenant: str) -> tuple[int, str]:
    # Columns, not the mapped object: an object already in the session would come back
    # with the values it had before this transaction's earlier appends.
    query = (
        sa.select(AuditHead.last_seq, AuditHead.last_hash)
        .where(AuditHead.tenant_id == tenant)
        .with_for_update()
    )
    head = session.execute(query).one_or_none()
    if head is None:
        if session.get(Tenant, tenant) is None:
            raise NotFound(f"tenant {tenant!r} not found")
        stmt = upsert_insert(session, AuditHead).values(
            tenant_id=tenant, last_seq=0, last_hash=GENESIS_HASH, updated_at=sa.func.current_timestamp()
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id"]))
        head = session.execute(query).one()
    return head.last_seq, head.last_hash


def entries(
    session: Session, tenant: str, *, after_seq: int = 0, batch: int = 2000
) -> Iterable[dict[str, Any]]:
    """All entries of a tenant from ``after_seq`` on, in sequence order, as plain dicts.

    Read in keyset pages so a chain of millions is never held in memory.
    """
    columns = [getattr(AuditEntry, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    while True:
        page = session.execute(
            sa.select(*columns)
            .where(AuditEntry.tenant_id == tenant, AuditEntry.seq > after_seq)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        for row in page:
            yield row._asdict()
        if len(page) < batch:
            return
        after_seq = page[-1].seq


def verify(session: Session, tenant: str) -> VerifyResult:
    """Walk the chain and report the first entry that was edited, deleted, reordered or inserted."""
    if session.get(Tenant, tenant) is None:
        raise NotFound(f"tenant {tenant!r} not found")
    head = session.execute(
        sa.select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.tenant_id == tenant)
    ).one_or_none()
    expected, prev_hash, count = 1, GENESIS_HASH, 0

    def broken(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(tenant, False, count, expected - 1, first_broken_seq=seq, problem=problem)

    for entry in entries(session, tenant):
        seq = entry["seq"]
        if seq != expected:
            return broken(expected, f"entry {expected} is missing: the next entry is {seq}")
        if entry["prev_hash"] != prev_hash:
            return broken(
                seq, f"entry {seq} does not follow entry {seq - 1}: its prev_hash differs (moved or replaced)"
            )
        if chain_hash(hashed_fields(entry), prev_hash) != entry["hash"]:
            return broken(seq, f"entry {seq} was altered: its content does not match its hash")
        prev_hash = entry["hash"]
        expected += 1
        count += 1
    last = expected - 1
    head_seq = head.last_seq if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_seq > last:
        return broken(
            last + 1, f"entries {last + 1}..{head_seq} are missing: the chain head is at {head_seq}"
        )
    if head_seq < last:
        return broken(
            head_seq + 1, f"entries after {head_seq} were inserted: the chain head is at {head_seq}"
        )
    if head_hash != prev_hash:
        return broken(last, f"entry {last} does not match the chain head's hash")
    return VerifyResult(tenant, True, count, last)
