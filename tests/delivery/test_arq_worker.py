"""End to end through arq on the real Redis and PostgreSQL: a blocked decision recorded by
casework becomes a signed webhook that a burst-mode worker delivers once, after a failed
first try, with the same ``webhook-id`` on both tries."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import sqlalchemy as sa
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker
from delivery_receiver import Receiver
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from casework import delivery, relay, webhooks, worker
from casework.context import Actor, Context, utcnow
from casework.db import transaction
from casework.models import OutboxMessage, WebhookDelivery
from casework.recording import record_decision
from casework.tenants import create_tenant
from engine.decision import Decision, Hit, PackRef
from engine.events import Payment


def _blocked(event_id: str) -> tuple[Payment, Decision]:
    at = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    event = Payment(id=event_id, timestamp=at, amount=900.0, currency="EUR", card_id="c-1", user_id="u-1")
    hit = Hit(rule="big_amount", severity="high", score=95.0, tags=(), explanation=("amount 900 > 100",))
    decision = Decision(
        event_id=event_id,
        outcome="block",
        score=95.0,
        risk_level="high",
        hits=(hit,),
        effects=(),
        pack=PackRef("cards", "1.0.0"),
    )
    return event, decision


def test_burst_worker_delivers_a_blocked_decision_once(
    pg_engine: Engine, redis_url: str, receiver: Receiver
) -> None:
    ctx = Context("acme", Actor("user", "admin"))
    with transaction(pg_engine) as session:
        create_tenant(session, ctx, "Acme")
        created = webhooks.create_endpoint(
            session, ctx, receiver.url, event_types=["decision.blocked"], allow_private=True
        )
    with transaction(pg_engine) as session:
        record_decision(session, Context("acme"), *_blocked("evt-1"))
        message_id = session.execute(sa.select(OutboxMessage.message_id)).scalar_one()
    receiver.answer(503)  # the first try fails; the job enqueues the next one (deferred)

    settings = delivery.DeliverySettings(schedule=(dt.timedelta(milliseconds=200),), jitter=0.0)

    asyncio.run(_burst(pg_engine, redis_url, f"vigil-test-{uuid.uuid4().hex}", settings))
    assert len(receiver.received) == 2 and len(receiver.delivered) == 1
    assert {r.headers["webhook-id"] for r in receiver.received} == {message_id}
    body = Webhook(created.secret).verify(receiver.delivered[0].body, receiver.delivered[0].headers)
    assert body["type"] == "decision.blocked" and body["data"]["event_id"] == "evt-1"
    with transaction(pg_engine) as session:
        row = session.execute(sa.select(WebhookDelivery)).scalar_one()
    assert (row.status, row.attempts) == ("delivered", 2)


async def _burst(engine: Engine, redis_url: str, queue: str, settings: delivery.DeliverySettings) -> None:
    """One burst-mode arq worker run (made inside the running loop: arq's Worker keeps the loop
    current when it is made)."""
    arq_worker = Worker(
        functions=worker.WorkerSettings.functions,
        on_startup=worker.startup,
        on_shutdown=worker.shutdown,
        redis_settings=RedisSettings.from_dsn(redis_url),
        queue_name=queue,
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
        ctx={"engine": engine, "delivery_settings": settings},
    )
    try:
        await asyncio.wait_for(arq_worker.main(), 30)
    finally:
        await arq_worker.close()


def test_jobs_lost_with_redis_data_are_found_again(
    pg_engine: Engine, redis_url: str, receiver: Receiver
) -> None:
    """Redis restarted without its data: the queued job is gone, the delivery is not; the
    worker's sweep enqueues it again and it is delivered once."""
    ctx = Context("acme", Actor("user", "admin"))
    with transaction(pg_engine) as session:
        create_tenant(session, ctx, "Acme")
        webhooks.create_endpoint(session, ctx, receiver.url, allow_private=True)
    with transaction(pg_engine) as session:
        record_decision(session, Context("acme"), *_blocked("evt-2"))
    queue = f"vigil-test-{uuid.uuid4().hex}"

    async def enqueue_then_lose() -> None:
        redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
        try:
            assert relay.relay(pg_engine)
            due = await asyncio.to_thread(worker._due, pg_engine, utcnow)
            await worker.enqueue(redis, due)
            job_ids = [key.decode() for key in await redis.zrange(queue, 0, -1)]
            assert len(job_ids) == 1
            await redis.delete(queue, *(f"arq:job:{job_id}" for job_id in job_ids))
        finally:
            await redis.aclose()

    asyncio.run(enqueue_then_lose())
    asyncio.run(_burst(pg_engine, redis_url, queue, delivery.DeliverySettings()))
    assert len(receiver.received) == 1 and len(receiver.delivered) == 1
