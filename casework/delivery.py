"""Delivering webhooks: one job per delivery id, idempotent, with retries on a fixed schedule.

A try goes: claim the delivery (a conditional UPDATE, so two runs of the same job never
send at once), check the destination, POST the signed body, record the attempt and
decide what comes next. The body and the ``webhook-id`` are the same on every try, so
a receiver that sees a message twice (a worker killed after the POST, before the
record) can tell it is the same message. A delivered or dead-lettered delivery is
never sent again by a job; only :func:`redeliver` puts it back.

The schedule (:data:`SCHEDULE`) is the wait after each failed try: 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h, 8 h, each with up to ±10 % jitter: nine tries over about
a day and a half, then the delivery is dead-lettered. ``Retry-After`` on a 429 or
503 replaces the scheduled wait (at most :data:`MAX_RETRY_AFTER`). A 410 disables the
endpoint; so does a run of failures lasting a day. Both are audited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import ipaddress
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from casework import audit, webhooks
from casework.canonical import canonical_time
from casework.context import SYSTEM, Context, utcnow
from casework.db import transaction
from casework.errors import InvalidInput, NotFound
from casework.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from casework.signing_webhooks import headers as signed_headers

#: wait after the 1st, 2nd, ... failed try; len(SCHEDULE) + 1 tries in all (about 35.6 hours)
SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
    dt.timedelta(hours=8),
)
MAX_RETRY_AFTER = dt.timedelta(hours=24)
EXCERPT_BYTES = 1000

PENDING, SENDING, RETRYING, DELIVERED, DEAD = "pending", "sending", "retrying", "delivered", "dead"

Clock = Callable[[], dt.datetime]
Resolver = Callable[[str, int], Awaitable[list[str]]]


class DeliverySettings(msgspec.Struct, frozen=True):
    """Knobs of the delivery job; tests shrink the schedule and the lease."""

    schedule: tuple[dt.timedelta, ...] = SCHEDULE
    #: each wait is multiplied by a random factor in [1 - jitter, 1 + jitter]
    jitter: float = 0.1
    timeout_s: float = 10.0
    #: an endpoint failing without a single success for this long is disabled
    disable_after: dt.timedelta = dt.timedelta(days=1)
    #: how long a claim holds; after it a worker that died mid-send is presumed dead
    lease: dt.timedelta = dt.timedelta(minutes=2)


class Claimed(msgspec.Struct, frozen=True):
    """What one try needs, read in the claiming transaction."""

    delivery_id: int
    tenant: str
    endpoint_id: int
    attempt: int
    message_id: str
    url: str
    secrets: list[str]
    allow_private: bool
    body: bytes


class Result(msgspec.Struct, frozen=True):
    """What one HTTP try gave; ``status_code`` is None when no response came."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str = ""
    retry_after: dt.timedelta | None = None
    #: the destination check refused the address: no point retrying
    refused: bool = False


class Outcome(msgspec.Struct, frozen=True):
    """What a job run did: ``delivered``, ``retrying`` (with ``next_attempt_at``), ``dead`` or ``skipped``."""

    status: str
    attempt: int = 0
    next_attempt_at: dt.datetime | None = None


def body_of(event_type: str, created_at: dt.datetime, payload: Any) -> bytes:
    """The request body: the same bytes on every try of a delivery."""
    return msgspec.json.encode({"type": event_type, "timestamp": canonical_time(created_at), "data": payload})


def job_id(delivery_id: int, attempts: int, due_at: dt.datetime) -> str:
    """The arq job id of the try due at ``due_at`` after ``attempts`` tries.

    Enqueueing the same try twice is a no-op (arq keeps one job per id); a redelivery,
    which starts the count again, is due at another time and so gets a new id.
    """
    return f"delivery:{delivery_id}:{attempts}:{round(due_at.timestamp() * 1_000_000)}"


# --- the job ---------------------------------------------------------------------------------


async def deliver(ctx: dict[str, Any], delivery_id: int) -> str:
    """The arq job: one try of ``delivery_id``; on failure the next try is scheduled.

    ``ctx`` holds ``engine`` and optionally ``http`` (an ``httpx.AsyncClient``), ``clock``,
    ``delivery_settings``, ``resolver`` and ``redis`` (arq's pool, to enqueue the next try).
    """
    return await try_and_requeue(ctx, "deliver", delivery_id, attempt, job_id)


async def try_and_requeue(
    ctx: dict[str, Any],
    job: str,
    delivery_id: int,
    one_try: Callable[[dict[str, Any], int], Awaitable[Outcome]],
    make_id: Callable[[int, int, dt.datetime], str],
) -> str:
    """Run one try of a job; when it must be retried and arq is there, queue the next try."""
    outcome = await one_try(ctx, delivery_id)
    redis = ctx.get("redis")
    if outcome.status == RETRYING and redis is not None and outcome.next_attempt_at is not None:
        await redis.enqueue_job(
            job,
            delivery_id,
            _job_id=make_id(delivery_id, outcome.attempt, outcome.next_attempt_at),
            _defer_until=outcome.next_attempt_at,
        )
    return outcome.status


async def attempt(ctx: dict[str, Any], delivery_id: int) -> Outcome:
    """Claim, check, send, record: one try (or nothing, if the delivery is not due or done)."""
    engine: Engine = ctx["engine"]
    clock: Clock = ctx.get("clock", utcnow)
    settings: DeliverySettings = ctx.get("delivery_settings", DeliverySettings())
    claimed = await asyncio.to_thread(_claim, engine, delivery_id, clock(), settings.lease)
    if claimed is None:
        return Outcome("skipped")
    resolver: Resolver = ctx.get("resolver", resolve)
    refusal, address = await vet_destination(claimed.url, claimed.allow_private, resolver)
    if refusal is not None:
        result = Result(None, 0, error=refusal, refused=True)
    else:
        client: httpx.AsyncClient | None = ctx.get("http")
        if client is None:
            async with new_client() as own:
                result = await post(own, claimed, settings.timeout_s, address)
        else:
            result = await post(client, claimed, settings.timeout_s, address)
    return await asyncio.to_thread(_settle, engine, claimed, result, clock(), settings)


def new_client() -> httpx.AsyncClient:
    """The HTTP client of a worker: no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        follow_redirects=False, trust_env=False, limits=httpx.Limits(max_connections=200)
    )


async def post(
    client: httpx.AsyncClient, claimed: Claimed, timeout_s: float, address: str | None = None
) -> Result:
    """POST the signed body (to ``address`` if given, see :func:`pinned`); read at most
    :data:`EXCERPT_BYTES` of the answer."""
    url, host_header, extensions = pinned(claimed.url, address)
    headers = signed_headers(claimed.message_id, int(time.time()), claimed.body, claimed.secrets)
    headers |= host_header
    headers["content-type"] = "application/json"
    headers["user-agent"] = "Vigil-Webhooks/1"
    started = time.perf_counter()
    try:
        async with client.stream(
            "POST",
            url,
            content=claimed.body,
            headers=headers,
            timeout=timeout_s,
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            excerpt = b""
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            latency = _ms(started)
            retry_after = None
            if response.status_code in (429, 503):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            return Result(
                response.status_code,
                latency,
                excerpt=excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"),
                retry_after=retry_after,
            )
    except httpx.HTTPError as error:
        return Result(None, _ms(started), error=f"{type(error).__name__}: {error}"[:500])


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> dt.timedelta | None:
    """``Retry-After`` as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(dt.timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    wait = when - (now or utcnow())
    return min(max(wait, dt.timedelta(0)), MAX_RETRY_AFTER)


# --- destination checks ------------------------------------------------------------------------


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=0)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """Not private, loopback, link-local, multicast, reserved or unspecified (IPv4-mapped too)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_destination(url: str, allow_private: bool, resolver: Resolver = resolve) -> str | None:
    """Why ``url`` may not be sent to, or None. Checked at send time, on every address the host has."""
    return (await vet_destination(url, allow_private, resolver))[0]


async def vet_destination(
    url: str, allow_private: bool, resolver: Resolver = resolve
) -> tuple[str | None, str | None]:
    """``(refusal, address)``: why not to send, or the checked address to connect to.

    The request then goes to that very address (see :func:`pinned`), so a DNS answer
    that changes after the check (rebinding) cannot redirect it. With ``allow_private``
    nothing is checked and the client resolves as usual (address None).
    """
    if allow_private:
        return None, None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [host] if _is_ip(host) else await resolver(host, port)
    except OSError as error:
        return f"cannot resolve {host}: {error}", None
    if not addresses:
        return f"cannot resolve {host}", None
    blocked = [a for a in addresses if not is_public(a)]
    if blocked:
        return f"destination {host} resolves to non-public address {blocked[0]} (allow_private is off)", None
    return None, addresses[0]


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``(url, headers, extensions)`` that reach ``address`` while naming the original host
    in the ``Host`` header and, for HTTPS, in SNI and certificate checks."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if address is None or host == address:
        return url, {}, {}
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl(), {"host": host_header}, {"sni_hostname": host}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- claim and settle (synchronous, in a worker thread) ----------------------------------------


def _claim(engine: Engine, delivery_id: int, now: dt.datetime, lease: dt.timedelta) -> Claimed | None:
    with transaction(engine) as session:
        D = WebhookDelivery
        claimable = sa.or_(
            sa.and_(
                D.status.in_((PENDING, RETRYING)),
                sa.or_(D.next_attempt_at.is_(None), D.next_attempt_at <= now),
            ),
            sa.and_(D.status == SENDING, D.lease_until < now),
        )
        claimed = session.execute(
            sa.update(D)
            .where(D.id == delivery_id, claimable)
            .values(status=SENDING, lease_until=now + lease, attempts=D.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(claimed, sa.CursorResult)
        if claimed.rowcount != 1:
            return None
        row = session.execute(sa.select(D).where(D.id == delivery_id)).scalar_one()
        endpoint = session.get(WebhookEndpoint, row.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            row.status, row.lease_until, row.next_attempt_at = DEAD, None, None
            row.last_error = "endpoint disabled"
            return None
        return Claimed(
            delivery_id=row.id,
            tenant=row.tenant_id,
            endpoint_id=endpoint.id,
            attempt=row.attempts,
            message_id=row.message_id,
            url=endpoint.url,
            secrets=webhooks.active_secrets(endpoint),
            allow_private=endpoint.allow_private,
            body=body_of(row.event_type, row.created_at, row.payload),
        )


def _settle(
    engine: Engine, claimed: Claimed, result: Result, now: dt.datetime, settings: DeliverySettings
) -> Outcome:
    ok = result.status_code is not None and 200 <= result.status_code < 300
    with transaction(engine) as session:
        session.add(
            WebhookAttempt(
                tenant_id=claimed.tenant,
                delivery_id=claimed.delivery_id,
                at=now,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=result.error,
                response_excerpt=result.excerpt,
            )
        )
        ctx = Context(claimed.tenant, SYSTEM, now=now)
        if ok:
            outcome = Outcome(DELIVERED, claimed.attempt)
            _endpoint_succeeded(session, claimed.endpoint_id)
        else:
            outcome = _after_failure(session, ctx, claimed, result, settings)
        D = WebhookDelivery
        error = None if ok else (result.error or f"HTTP {result.status_code}")
        session.execute(
            sa.update(D)
            # only the claim that is still ours: a lapsed lease may have passed the delivery on
            .where(D.id == claimed.delivery_id, D.status == SENDING, D.attempts == claimed.attempt)
            .values(
                status=outcome.status,
                next_attempt_at=outcome.next_attempt_at,
                lease_until=None,
                last_error=error,
                delivered_at=now if ok else None,
            )
            .execution_options(synchronize_session=False)
        )
    return outcome


def _endpoint_succeeded(session: Session, endpoint_id: int) -> None:
    E = WebhookEndpoint
    session.execute(
        sa.update(E)
        .where(E.id == endpoint_id, E.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


def _after_failure(
    session: Session, ctx: Context, claimed: Claimed, result: Result, settings: DeliverySettings
) -> Outcome:
    endpoint = session.execute(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.id == claimed.endpoint_id).with_for_update()
    ).scalar_one()
    if result.status_code == 410:
        webhooks.disable(session, ctx, endpoint, "the receiver answered 410 Gone")
        return Outcome(DEAD, claimed.attempt)
    if result.refused:
        return Outcome(DEAD, claimed.attempt)
    if endpoint.failing_since is None:
        endpoint.failing_since = ctx.now
    elif ctx.now - endpoint.failing_since >= settings.disable_after:
        since = canonical_time(endpoint.failing_since)
        webhooks.disable(session, ctx, endpoint, f"every delivery failed since {since}")
        return Outcome(DEAD, claimed.attempt)
    if claimed.attempt > len(settings.schedule):
        return Outcome(DEAD, claimed.attempt)
    wait = result.retry_after
    if wait is None:
        scheduled = settings.schedule[claimed.attempt - 1]
        wait = scheduled * random.uniform(1 - settings.jitter, 1 + settings.jitter)
    return Outcome(RETRYING, claimed.attempt, ctx.now + wait)


# --- reading the log and redelivering ----------------------------------------------------------


class DeliveryView(msgspec.Struct, frozen=True):
    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class AttemptView(msgspec.Struct, frozen=True):
    at: dt.datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.endpoint_id,
        row.message_id,
        row.event_type,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.created_at,
        row.delivered_at,
    )


def list_deliveries(
    session: Session,
    ctx: Context,
    endpoint_id: int,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryView]:
    """An endpoint's deliveries, newest first, in pages (``before_id`` is the last id seen)."""
    webhooks.load(session, ctx.tenant, endpoint_id)
    D = WebhookDelivery
    query = sa.select(D).where(D.tenant_id == ctx.tenant, D.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(D.status == status)
    if before_id is not None:
        query = query.where(D.id < before_id)
    rows = session.execute(query.order_by(D.id.desc()).limit(min(limit, 500))).scalars()
    return [_delivery_view(row) for row in rows]


def get_delivery(session: Session, ctx: Context, delivery_id: int) -> DeliveryView:
    return _delivery_view(_load(session, ctx.tenant, delivery_id))


def attempts_of(session: Session, ctx: Context, delivery_id: int) -> list[AttemptView]:
    """Every try of a delivery, oldest first: time, HTTP status, latency, error, response excerpt."""
    _load(session, ctx.tenant, delivery_id)
    A = WebhookAttempt
    rows = session.execute(sa.select(A).where(A.delivery_id == delivery_id).order_by(A.id)).scalars()
    return [AttemptView(r.at, r.status_code, r.latency_ms, r.error, r.response_excerpt) for r in rows]


def _load(session: Session, tenant: str, delivery_id: int) -> WebhookDelivery:
    row = session.execute(
        sa.select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant, WebhookDelivery.id == delivery_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return row


def redeliver(session: Session, ctx: Context, delivery_id: int) -> int:
    """Send one message again (same ``webhook-id``) with a fresh schedule; returns the delivery id."""
    row = _load(session, ctx.tenant, delivery_id)
    if row.status == SENDING:
        raise InvalidInput(f"delivery {delivery_id} is being sent right now")
    _requeue(session, [row.id], ctx.now)
    audit.record(
        session,
        ctx,
        "webhook.redelivered",
        "webhook_delivery",
        str(row.id),
        {"status": [row.status, PENDING]},
    )
    return row.id


def redeliver_failed(
    session: Session, ctx: Context, since: dt.datetime, *, endpoint_id: int | None = None
) -> list[int]:
    """Send again every dead-lettered message created since ``since``; returns their delivery ids."""
    D = WebhookDelivery
    query = sa.select(D.id).where(D.tenant_id == ctx.tenant, D.status == DEAD, D.created_at >= since)
    if endpoint_id is not None:
        webhooks.load(session, ctx.tenant, endpoint_id)
        query = query.where(D.endpoint_id == endpoint_id)
    ids = list(session.execute(query.order_by(D.id)).scalars())
    if ids:
        _requeue(session, ids, ctx.now)
        changes = {"since": [None, canonical_time(since)], "deliveries": [None, len(ids)]}
        audit.record(
            session, ctx, "webhook.redelivered_failed", "webhook_endpoint", str(endpoint_id or "*"), changes
        )
    return ids


def _requeue(session: Session, ids: Sequence[int], now: dt.datetime) -> None:
    D = WebhookDelivery
    session.execute(
        sa.update(D)
        .where(D.id.in_(ids))
        .values(status=PENDING, attempts=0, next_attempt_at=now, lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


class Due(msgspec.Struct, frozen=True):
    """A try to make: which delivery, after how many tries, due when (what a job id is made of)."""

    id: int
    attempts: int
    due_at: dt.datetime


def due(session: Session, now: dt.datetime, limit: int = 500) -> list[Due]:
    """Tries a worker should make now: due deliveries, and ones whose sender's lease lapsed."""
    return due_in(WebhookDelivery, session, now, limit)


def due_in(D: Any, session: Session, now: dt.datetime, limit: int) -> list[Due]:
    """The due tries of a delivery table (webhooks or integrations share its columns)."""
    query = (
        sa.select(D.id, D.attempts, sa.func.coalesce(D.lease_until, D.next_attempt_at).label("due_at"))
        .where(
            sa.or_(
                sa.and_(D.status.in_((PENDING, RETRYING)), D.next_attempt_at <= now),
                sa.and_(D.status == SENDING, D.lease_until < now),
            )
        )
        .order_by(D.next_attempt_at)
        .limit(limit)
    )
    return [Due(row.id, row.attempts, row.due_at) for row in session.execute(query)]
