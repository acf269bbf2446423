"""Liveness, readiness, Prometheus metrics and the JWK Set."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth.guard import services_of
from casework import lookups

_log = logging.getLogger("vigil.api")


class Health(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]


@get("/health", tags=["operations"], summary="Liveness: the process answers")
async def health() -> Health:
    return Health("ok")


@get(
    "/ready",
    tags=["operations"],
    summary="Readiness: the store (and Redis, when configured) answer",
    responses={},
)
async def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    services = services_of(request)
    checks: dict[str, str] = {}

    def ping_db() -> None:
        with services.db.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        await services.run(ping_db)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if services.settings.redis.url:
        try:
            import redis

            def ping_redis() -> None:
                client = redis.Redis.from_url(services.settings.redis.url or "", socket_timeout=2)
                try:
                    client.ping()
                finally:
                    client.close()

            await services.run(ping_redis)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response(Readiness("ok" if ok else "unavailable", checks), status_code=200 if ok else 503)


@get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=True)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = services_of(request)
    try:
        services.metrics.outbox_pending.set(await services.in_tx(lookups.outbox_backlog))
    except Exception as exc:  # the store down: the other metrics still answer
        _log.warning("outbox backlog unavailable: %s", exc)
    body = generate_latest(services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@get("/.well-known/jwks.json", tags=["oauth"], summary="The public keys that sign access tokens")
async def jwks(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return services_of(request).tokens.jwks()
