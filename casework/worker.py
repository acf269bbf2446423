"""Workers: arq on Redis at scale, an in-process asyncio loop in the embedded default.

Both run the same job functions (:func:`casework.delivery.deliver` for webhooks,
:func:`casework.integrations_delivery.notify` for integrations) and the same relay.

With arq, every worker runs a relay loop beside its jobs (claims are safe to share, see
``casework.relay``) and enqueues one job per try, with a job id made of the delivery
id, the tries so far and the due time (arq drops a second job with the same id). A
sweep, once a second in the relay loop and once a minute as a cron job, enqueues every
due try: retries, ``notify`` deliveries, and jobs that were lost (Redis restarted
without its data, a worker killed mid-send after its lease lapsed).

Without Redis, :func:`run_in_process` relays and delivers in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func
from sqlalchemy.engine import Engine

from casework import delivery, integrations_delivery, relay
from casework.context import utcnow
from casework.db import create_engine, read_transaction
from casework.delivery import Clock, deliver

log = logging.getLogger("vigil.worker")

#: how often the relay looks for new outbox rows when the last look found none
RELAY_POLL_S = 0.2
#: how often the relay loop also enqueues every due try (retries, notify, lost jobs)
SWEEP_EVERY_S = 1.0


def redis_settings(url: str | None = None) -> RedisSettings:
    """arq's connection settings from ``url`` or ``VIGIL_REDIS_URL``."""
    url = url or os.environ.get("VIGIL_REDIS_URL", "").strip()
    if not url:
        raise RuntimeError("VIGIL_REDIS_URL is not set: run the in-process worker instead")
    return RedisSettings.from_dsn(url)


#: the job that makes each kind of try, by the name arq knows it under
JOBS = {
    "deliver": (delivery.job_id, delivery.attempt),
    "notify": (integrations_delivery.job_id, integrations_delivery.attempt),
}


async def enqueue(redis: ArqRedis, due: Iterable[tuple[str, delivery.Due]]) -> None:
    """One job per due try; a try already queued is not queued twice (same job id)."""
    for function, item in due:
        job_id = JOBS[function][0](item.id, item.attempts, item.due_at)
        await redis.enqueue_job(function, item.id, _job_id=job_id)


def _due(engine: Engine, clock: Clock) -> list[tuple[str, delivery.Due]]:
    now = clock()
    with read_transaction(engine) as session:
        webhook_tries = [("deliver", item) for item in delivery.due(session, now)]
        return webhook_tries + [("notify", item) for item in integrations_delivery.due(session, now)]


async def sweep(ctx: dict[str, Any]) -> int:
    """Cron job: enqueue every due try (the job ids make this a no-op for queued ones)."""
    due = await asyncio.to_thread(_due, ctx["engine"], ctx.get("clock", utcnow))
    await enqueue(ctx["redis"], due)
    return len(due)


async def relay_loop(ctx: dict[str, Any], stop: asyncio.Event | None = None) -> None:
    """Relay committed outbox rows and enqueue their deliveries until ``stop`` is set."""
    engine: Engine = ctx["engine"]
    clock: Clock = ctx.get("clock", utcnow)
    last_sweep = 0.0
    while stop is None or not stop.is_set():
        try:
            now = clock()
            relayed = await asyncio.to_thread(relay.relay, engine, now=now)
            # the new webhook tries at once; everything else due (notify, retries) at most once a second
            await enqueue(ctx["redis"], [("deliver", delivery.Due(i, 0, now)) for i in relayed])
            if time.monotonic() - last_sweep >= SWEEP_EVERY_S:
                last_sweep = time.monotonic()
                await sweep(ctx)
            if relayed:
                continue
        except Exception:
            log.exception("outbox relay failed; retrying")
        await asyncio.sleep(RELAY_POLL_S)


async def startup(ctx: dict[str, Any]) -> None:
    """Open the store and the HTTP client (unless given in the worker's ``ctx``), relay once, then
    keep relaying in the background."""
    if "engine" not in ctx:
        ctx["engine"] = create_engine()
        ctx["own_engine"] = True
    if "http" not in ctx:
        ctx["http"] = delivery.new_client()
        ctx["own_http"] = True
    # one pass before the first poll, so a burst worker finds the jobs of rows already committed
    await asyncio.to_thread(relay.relay, ctx["engine"])
    await sweep(ctx)
    ctx["relay_task"] = asyncio.create_task(relay_loop(ctx))


async def shutdown(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] = ctx["relay_task"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if ctx.get("own_http"):
        await ctx["http"].aclose()
    if ctx.get("own_engine"):
        ctx["engine"].dispose()


class WorkerSettings:
    """``arq casework.worker.WorkerSettings``, or ``vigil worker``."""

    functions: ClassVar[list[Any]] = [
        func(deliver, name="deliver", max_tries=5, timeout=60),
        func(integrations_delivery.notify, name="notify", max_tries=5, timeout=60),
    ]
    cron_jobs: ClassVar[list[Any]] = [cron(sweep, second=0, run_at_startup=True, unique=True)]
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 100
    keep_result = 60
    # read at import so `arq casework.worker.WorkerSettings` works; `vigil worker` passes its own
    redis_settings = RedisSettings.from_dsn(os.environ.get("VIGIL_REDIS_URL") or "redis://localhost:6379")


# --- the embedded default ------------------------------------------------------------------------


async def drain(ctx: dict[str, Any], *, concurrency: int = 50) -> int:
    """Relay, then try every due delivery, until nothing is left to do now; returns the tries made."""
    engine: Engine = ctx["engine"]
    clock: Clock = ctx.get("clock", utcnow)
    tries = 0
    limit = asyncio.Semaphore(concurrency)

    async def one(function: str, delivery_id: int) -> None:
        async with limit:
            await JOBS[function][1](ctx, delivery_id)

    # one HTTP client (and TLS context) for the whole drain: making one per try costs more than the try
    async with contextlib.AsyncExitStack() as stack:
        if "http" not in ctx:
            ctx = {**ctx, "http": await stack.enter_async_context(delivery.new_client())}
        while True:
            await asyncio.to_thread(relay.relay, engine, now=clock())
            due = await asyncio.to_thread(_due, engine, clock)
            if not due:
                return tries
            await asyncio.gather(*(one(function, item.id) for function, item in due))
            tries += len(due)


async def run_in_process(ctx: dict[str, Any], stop: asyncio.Event, *, poll_s: float = RELAY_POLL_S) -> None:
    """The embedded worker: drain, wait a little, again, until ``stop`` is set."""
    own_client = "http" not in ctx
    if own_client:
        ctx["http"] = delivery.new_client()
    try:
        while not stop.is_set():
            try:
                await drain(ctx)
            except Exception:
                log.exception("in-process worker round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
    finally:
        if own_client:
            await ctx.pop("http").aclose()
