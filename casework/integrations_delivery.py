"""Sending ``notify`` messages to integrations: the ``notify(ctx, id)`` job, idempotent like ``deliver``.

The outbox relay turns each committed ``notify`` row into one integration delivery for
the integration the rule named (if it exists and is enabled). A try claims the
delivery with a conditional UPDATE and a lease, checks the destination (Slack and
HTTP URLs, the SMTP host) unless the integration allows private addresses, renders
the templates and sends. Failures retry on the webhook schedule
(``delivery.DeliverySettings.schedule``) and end dead after the last try.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import jinja2
import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework import delivery, integrations
from casework.context import utcnow
from casework.db import transaction
from casework.delivery import (
    DEAD,
    DELIVERED,
    PENDING,
    RETRYING,
    SENDING,
    Clock,
    DeliverySettings,
    Due,
    Outcome,
    due_in,
    try_and_requeue,
)
from casework.errors import InvalidInput
from casework.models import Integration, IntegrationDelivery, OutboxMessage
from casework.sql import upsert_insert


class Claimed(msgspec.Struct, frozen=True):
    delivery_id: int
    attempt: int
    tenant: str
    name: str
    kind: str
    config: dict[str, Any]
    templates: dict[str, str]
    allow_private: bool
    payload: Any


def job_id(delivery_id: int, attempts: int, due_at: dt.datetime) -> str:
    """The arq job id of one try (see ``delivery.job_id``)."""
    return f"notify:{delivery_id}:{attempts}:{round(due_at.timestamp() * 1_000_000)}"


def create_for(session: Session, messages: list[OutboxMessage], now: dt.datetime) -> None:
    """One integration delivery per ``notify`` message whose integration exists and is enabled."""
    wanted = {(m.tenant_id, str(m.payload.get("integration", ""))) for m in messages}
    if not wanted:
        return
    found = {
        (row.tenant_id, row.name): row.id
        for row in session.execute(
            sa.select(Integration.tenant_id, Integration.name, Integration.id).where(
                Integration.tenant_id.in_({t for t, _ in wanted}),
                Integration.name.in_({n for _, n in wanted}),
                Integration.enabled.is_(True),
            )
        )
    }
    rows = [
        {
            "tenant_id": m.tenant_id,
            "integration_id": found[(m.tenant_id, m.payload.get("integration"))],
            "message_id": m.message_id,
            "payload": m.payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": m.created_at,
        }
        for m in messages
        if (m.tenant_id, m.payload.get("integration")) in found
    ]
    if rows:
        insert = upsert_insert(session, IntegrationDelivery).values(rows)
        session.execute(insert.on_conflict_do_nothing(index_elements=["integration_id", "message_id"]))


def due(session: Session, now: dt.datetime, limit: int = 500) -> list[Due]:
    """Integration tries to make now (due, or a sender's lease lapsed)."""
    return due_in(IntegrationDelivery, session, now, limit)


async def notify(ctx: dict[str, Any], delivery_id: int) -> str:
    """The arq job: one try of an integration delivery; on failure the next try is scheduled."""
    return await try_and_requeue(ctx, "notify", delivery_id, attempt, job_id)


async def attempt(ctx: dict[str, Any], delivery_id: int) -> Outcome:
    engine: Engine = ctx["engine"]
    clock: Clock = ctx.get("clock", utcnow)
    settings: DeliverySettings = ctx.get("delivery_settings", DeliverySettings())
    claimed = await asyncio.to_thread(_claim, engine, delivery_id, clock(), settings.lease)
    if claimed is None:
        return Outcome("skipped")
    result = await _try(ctx, claimed, settings)
    return await asyncio.to_thread(_settle, engine, claimed, result, clock(), settings)


async def _try(ctx: dict[str, Any], claimed: Claimed, settings: DeliverySettings) -> integrations.SendResult:
    if claimed.kind == "email":
        target = f"smtp://{claimed.config['host']}:{claimed.config['port']}"
    else:
        target = claimed.config["url"]
    refusal = await delivery.check_destination(
        target, claimed.allow_private, ctx.get("resolver", delivery.resolve)
    )
    if refusal is not None:
        return integrations.SendResult(False, error=refusal, retry=False)
    context = {"message": claimed.payload, "tenant": claimed.tenant, "integration": claimed.name}
    try:
        rendered = integrations.render(claimed.kind, claimed.templates, context)
    except (jinja2.TemplateError, InvalidInput) as error:
        return integrations.SendResult(False, error=f"template: {error}"[:500], retry=False)
    client = ctx.get("http")
    if client is None:
        async with delivery.new_client() as own:
            return await integrations.send(
                claimed.kind, claimed.config, rendered, client=own, ssl_context=ctx.get("smtp_ssl_context")
            )
    return await integrations.send(
        claimed.kind,
        claimed.config,
        rendered,
        client=client,
        ssl_context=ctx.get("smtp_ssl_context"),
        timeout_s=settings.timeout_s,
    )


def _claim(engine: Engine, delivery_id: int, now: dt.datetime, lease: dt.timedelta) -> Claimed | None:
    D = IntegrationDelivery
    with transaction(engine) as session:
        claimable = sa.or_(
            sa.and_(D.status.in_((PENDING, RETRYING)), D.next_attempt_at <= now),
            sa.and_(D.status == SENDING, D.lease_until < now),
        )
        result = session.execute(
            sa.update(D)
            .where(D.id == delivery_id, claimable)
            .values(status=SENDING, lease_until=now + lease, attempts=D.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, sa.CursorResult)
        if result.rowcount != 1:
            return None
        row = session.execute(sa.select(D).where(D.id == delivery_id)).scalar_one()
        target = session.get(Integration, row.integration_id)
        if target is None or not target.enabled:
            row.status, row.lease_until, row.last_error = DEAD, None, "integration disabled"
            return None
        return Claimed(
            row.id,
            row.attempts,
            row.tenant_id,
            target.name,
            target.kind,
            dict(target.config),
            dict(target.templates),
            target.allow_private,
            row.payload,
        )


def _settle(
    engine: Engine,
    claimed: Claimed,
    result: integrations.SendResult,
    now: dt.datetime,
    settings: DeliverySettings,
) -> Outcome:
    if result.ok:
        outcome = Outcome(DELIVERED, claimed.attempt)
    elif not result.retry or claimed.attempt > len(settings.schedule):
        outcome = Outcome(DEAD, claimed.attempt)
    else:
        wait = settings.schedule[claimed.attempt - 1] * random.uniform(
            1 - settings.jitter, 1 + settings.jitter
        )
        outcome = Outcome(RETRYING, claimed.attempt, now + wait)
    D = IntegrationDelivery
    with transaction(engine) as session:
        session.execute(
            sa.update(D)
            .where(D.id == claimed.delivery_id, D.status == SENDING, D.attempts == claimed.attempt)
            .values(
                status=outcome.status,
                next_attempt_at=outcome.next_attempt_at,
                lease_until=None,
                last_error=result.error,
                delivered_at=now if result.ok else None,
            )
            .execution_options(synchronize_session=False)
        )
    return outcome
