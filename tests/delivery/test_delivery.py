"""Delivery to a real receiver on 127.0.0.1, every request verified with `standardwebhooks`.

Retries run on a fake clock and a shrunk schedule: a test advances the clock past the
next wait and drains again, so a day and a half of retries takes milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from delivery_receiver import Receiver
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from casework import delivery, outbox, relay, webhooks, worker
from casework.context import Actor, Context, utcnow
from casework.db import transaction
from casework.models import AuditEntry, WebhookDelivery, WebhookEndpoint

ADMIN = Actor("user", "admin")
SHORT = delivery.DeliverySettings(
    schedule=(dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30)),
    jitter=0.0,
    timeout_s=5.0,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ctx(engine: Engine, clock: FakeClock) -> Iterator[dict[str, Any]]:
    yield {"engine": engine, "clock": clock, "delivery_settings": SHORT}


def make_endpoint(engine: Engine, tenant: str, url: str, **options: Any) -> webhooks.Created:
    options.setdefault("allow_private", True)
    with transaction(engine) as session:
        return webhooks.create_endpoint(session, Context(tenant, ADMIN), url, **options)


def publish(engine: Engine, tenant: str, topic: str = "case.opened", **payload: Any) -> str:
    with transaction(engine) as session:
        message = outbox.message(Context(tenant, ADMIN), topic, payload or {"case_id": 7, "queue": "fraud"})
        outbox.write(session, [message])
    return str(message["message_id"])


def drain(ctx: dict[str, Any]) -> int:
    return asyncio.run(worker.drain(ctx))


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with transaction(engine) as session:
        return list(session.execute(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars())


def verify_all(receiver: Receiver, secret: str) -> list[Any]:
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]


def test_signed_delivery_with_its_log(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any]
) -> None:
    created = make_endpoint(engine, tenant, receiver.url, event_types=["case.opened"])
    message_id = publish(engine, tenant)
    publish(engine, tenant, "case.resolved", case_id=7)  # not subscribed
    assert drain(ctx) == 1
    [body] = verify_all(receiver, created.secret)
    assert body["type"] == "case.opened" and body["data"] == {"case_id": 7, "queue": "fraud"}
    assert receiver.received[0].headers["webhook-id"] == message_id
    [row] = deliveries(engine)
    assert row.status == "delivered" and row.attempts == 1
    with transaction(engine) as session:
        [attempt] = delivery.attempts_of(session, Context(tenant), row.id)
        listed = delivery.list_deliveries(session, Context(tenant), created.endpoint.id)
    assert attempt.status_code == 200 and attempt.latency_ms >= 0 and "ok" in attempt.response_excerpt
    assert [d.id for d in listed] == [row.id]


def test_receiver_down_for_rounds_then_back_gets_it_once(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], clock: FakeClock
) -> None:
    created = make_endpoint(engine, tenant, receiver.url)
    receiver.answer(500, 502, 503)
    message_id = publish(engine, tenant)
    rounds = 0
    while not receiver.delivered:
        drain(ctx)
        clock.advance(dt.timedelta(hours=1))
        rounds += 1
        assert rounds < 10
    drain(ctx)
    assert len(receiver.received) == 4 and len(receiver.delivered) == 1
    assert {r.headers["webhook-id"] for r in receiver.received} == {message_id}
    assert len({r.body for r in receiver.received}) == 1
    verify_all(receiver, created.secret)
    [row] = deliveries(engine)
    assert (row.status, row.attempts) == ("delivered", 4)
    # the job run again delivers nothing new
    assert asyncio.run(delivery.deliver(ctx, row.id)) == "skipped"
    assert len(receiver.received) == 4


def test_schedule_and_retry_after(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], clock: FakeClock
) -> None:
    make_endpoint(engine, tenant, receiver.url)
    receiver.answer(500)
    receiver.answer(429, headers={"Retry-After": "120"})
    publish(engine, tenant)
    drain(ctx)
    [row] = deliveries(engine)
    assert row.status == "retrying" and row.next_attempt_at == clock.now + dt.timedelta(seconds=5)
    clock.advance(dt.timedelta(seconds=5))
    drain(ctx)
    [row] = deliveries(engine)
    assert row.next_attempt_at == clock.now + dt.timedelta(seconds=120)
    assert sum(delivery.SCHEDULE, dt.timedelta()) > dt.timedelta(hours=34)
    assert delivery.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == dt.timedelta(0)


def test_dead_letter_after_the_last_try_then_redelivered(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], clock: FakeClock
) -> None:
    make_endpoint(engine, tenant, receiver.url)
    receiver.answer(*([500] * 4))
    start = clock.now
    message_id = publish(engine, tenant)
    for _ in range(6):
        drain(ctx)
        clock.advance(dt.timedelta(hours=1))
    [row] = deliveries(engine)
    assert (row.status, row.attempts, row.last_error) == ("dead", 4, "HTTP 500")
    assert len(receiver.received) == 4 and not receiver.delivered
    with transaction(engine) as session:
        ids = delivery.redeliver_failed(
            session, Context(tenant, ADMIN, now=clock.now), start - dt.timedelta(hours=1)
        )
    assert ids == [row.id]
    drain(ctx)
    assert [r.headers["webhook-id"] for r in receiver.delivered] == [message_id]
    with transaction(engine) as session:
        delivery.redeliver(session, Context(tenant, ADMIN, now=clock.now), row.id)
    drain(ctx)
    assert [r.headers["webhook-id"] for r in receiver.delivered] == [message_id] * 2


def test_410_disables_the_endpoint(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any]
) -> None:
    created = make_endpoint(engine, tenant, receiver.url)
    receiver.answer(410)
    publish(engine, tenant)
    drain(ctx)
    publish(engine, tenant)
    drain(ctx)
    assert len(receiver.received) == 1
    [row] = deliveries(engine)
    assert row.status == "dead"
    with transaction(engine) as session:
        endpoint = session.get(WebhookEndpoint, created.endpoint.id)
        assert endpoint is not None and not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
        actions = session.execute(sa.select(AuditEntry.action, AuditEntry.actor_id)).all()
    assert ("webhook.disabled", "vigil") in actions


def test_failing_for_a_day_disables_the_endpoint(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], clock: FakeClock
) -> None:
    created = make_endpoint(engine, tenant, receiver.url)
    receiver.answer(*([500] * 10))
    ctx["delivery_settings"] = delivery.DeliverySettings(
        schedule=(dt.timedelta(hours=10),) * 5, jitter=0.0, disable_after=dt.timedelta(days=1)
    )
    publish(engine, tenant)
    for _ in range(5):
        drain(ctx)
        clock.advance(dt.timedelta(hours=10))
    assert len(receiver.received) == 4  # 0 h, 10 h, 20 h fail; at 30 h the endpoint is switched off
    with transaction(engine) as session:
        endpoint = session.get(WebhookEndpoint, created.endpoint.id)
        assert endpoint is not None and not endpoint.enabled
        assert "failed since" in (endpoint.disabled_reason or "")
    [row] = deliveries(engine)
    assert row.status == "dead"


def test_destination_check(engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any]) -> None:
    make_endpoint(engine, tenant, receiver.url, allow_private=False)
    make_endpoint(engine, tenant, "http://10.1.2.3:9/hook", allow_private=False)
    make_endpoint(engine, tenant, "http://hooks.internal.example/hook", allow_private=False)

    async def fake_resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.8"] if host == "hooks.internal.example" else ["93.184.216.34"]

    ctx["resolver"] = fake_resolver
    publish(engine, tenant)
    drain(ctx)
    assert receiver.received == []
    rows = deliveries(engine)
    assert [r.status for r in rows] == ["dead"] * 3
    assert "127.0.0.1" in (rows[0].last_error or "") and "10.0.0.8" in (rows[2].last_error or "")

    def check(url: str) -> str | None:
        return asyncio.run(delivery.check_destination(url, False, fake_resolver))

    assert check("https://hooks.example.com/x") is None
    for url in ("http://169.254.169.254/", "http://[::1]/", "http://[::ffff:10.0.0.1]/", "http://0.0.0.0/"):
        assert check(url) is not None
    assert asyncio.run(delivery.check_destination("http://10.0.0.1/", True)) is None


def test_concurrent_runs_of_one_job_send_once(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any]
) -> None:
    make_endpoint(engine, tenant, receiver.url)
    publish(engine, tenant)
    [delivery_id] = relay.relay(engine, now=ctx["clock"]())

    async def twice() -> list[str]:
        return list(await asyncio.gather(*(delivery.deliver(ctx, delivery_id) for _ in range(4))))

    assert sorted(asyncio.run(twice())) == ["delivered", "skipped", "skipped", "skipped"]
    assert len(receiver.received) == 1


def test_a_worker_killed_mid_send_is_taken_over_after_its_lease(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], clock: FakeClock
) -> None:
    make_endpoint(engine, tenant, receiver.url)
    message_id = publish(engine, tenant)
    [delivery_id] = relay.relay(engine, now=clock.now)
    # a worker claims the delivery and dies before recording anything
    assert delivery._claim(engine, delivery_id, clock.now, SHORT.lease) is not None
    assert drain(ctx) == 0
    clock.advance(SHORT.lease + dt.timedelta(seconds=1))
    assert drain(ctx) == 1
    assert [r.headers["webhook-id"] for r in receiver.delivered] == [message_id]


def test_relay_takes_only_committed_rows(engine: Engine, tenant: str, receiver: Receiver) -> None:
    make_endpoint(engine, tenant, receiver.url)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        outbox.write(session, [outbox.message(Context(tenant), "case.opened", {"case_id": 1})])
        raise RuntimeError("the case change failed")
    assert relay.relay(engine) == []
    publish(engine, tenant)
    assert len(relay.relay(engine)) == 1
    assert relay.relay(engine) == []


def test_relay_skips_rows_still_uncommitted(pg_engine: Engine) -> None:
    """PostgreSQL: a row in an open transaction is invisible; once committed it is relayed once."""
    from casework.tenants import create_tenant

    with transaction(pg_engine) as session:
        create_tenant(session, Context("acme"), "Acme")
    make_endpoint(pg_engine, "acme", "https://hooks.example.com/x")
    with transaction(pg_engine) as session:
        outbox.write(session, [outbox.message(Context("acme"), "decision.blocked", {"event_id": "e1"})])
        session.flush()
        assert relay.relay(pg_engine) == []
    assert len(relay.relay(pg_engine)) == 1


def test_the_request_goes_to_the_checked_address(
    engine: Engine, tenant: str, receiver: Receiver, ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the client connects to the address that was checked, naming the host in
    ``Host`` (``hooks.test`` resolves nowhere but through the checked answer)."""
    port = receiver.url.split(":")[2].split("/")[0]
    make_endpoint(engine, tenant, f"http://hooks.test:{port}/hook", allow_private=False)

    async def resolver(host: str, port: int) -> list[str]:
        assert host == "hooks.test"
        return ["127.0.0.1"]

    monkeypatch.setattr(delivery, "is_public", lambda address: True)  # let loopback pass as "public"
    ctx["resolver"] = resolver
    publish(engine, tenant)
    drain(ctx)
    [got] = receiver.delivered
    assert got.headers["host"] == f"hooks.test:{port}"
    url, headers, extensions = delivery.pinned("https://h.example/x", "2001:db8::1")
    assert (url, headers, extensions) == (
        "https://[2001:db8::1]/x",
        {"host": "h.example"},
        {"sni_hostname": "h.example"},
    )
