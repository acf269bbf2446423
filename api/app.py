"""The Litestar application: ``create_app(settings)`` assembles routes, auth, errors,
request ids, logs, metrics and OpenAPI (``/schema``)."""

from __future__ import annotations

import logging
import time
from typing import cast

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError

from api.auth.guard import provide_principal, scope_guard
from api.observability import (
    REQUEST_ID_HEADER,
    configure_logging,
    new_request_id,
    reset_current_request_id,
    set_current_request_id,
)
from api.openapi import add_problem_responses, document_event_bodies
from api.problems import (
    ApiProblem,
    on_api_problem,
    on_data_error,
    on_domain_error,
    on_http_exception,
    on_unavailable,
    on_unexpected,
)
from api.routes import admin, audit, cases, events, lists, meta, models, oauth, rulepacks
from api.services import Services
from api.settings import Settings
from casework.errors import CaseworkError

_access_log = logging.getLogger("vigil.api.access")


class VigilApp(Litestar):
    """Litestar with an outer layer that sees every request, routed or not: it gives the
    request its id, echoes it in ``X-Request-ID``, logs one JSON line and counts it."""

    services: Services

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        await self._http(cast("HTTPScope", scope), cast("Receive", receive), cast("Send", send))

    async def _http(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = new_request_id(incoming)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = set_current_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await super().__call__(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"]
            self.services.metrics.requests.labels(method, route, str(status)).inc()
            self.services.metrics.latency.labels(method, route).observe(elapsed)
            _access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            reset_current_request_id(token)


def _route_of(scope: HTTPScope) -> str:
    """The route template (``/v1/cases/{case_id:int}``) for metrics: bounded label values."""
    template = scope.get("path_template")
    if isinstance(template, str) and template:
        return template
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return str(next(iter(paths))) if paths else "unmatched"


async def _warm_demo_engine(app: Litestar) -> None:
    """Compile the demo tenant's packs at start, so its first event is not the slow one."""
    services: Services = app.state.services
    try:
        await services.engines.get(services.settings.engine.demo_tenant)
    except Exception as exc:  # an unmigrated store: the first request will say what is wrong
        _access_log.warning("could not warm the demo engine: %s", exc)


def create_app(settings: Settings | None = None) -> VigilApp:
    settings = settings or Settings.from_env()
    configure_logging(settings.log.level)
    services = Services(settings)

    v1_handlers = [
        events.post_event,
        events.post_batch,
        events.get_decision,
        events.post_label,
        *cases.ROUTES,
        *rulepacks.ROUTES,
        *lists.ROUTES,
        *models.ROUTES,
        *audit.ROUTES,
        *admin.ROUTES,
    ]
    add_problem_responses(v1_handlers)
    v1 = Router(
        path="/v1",
        route_handlers=v1_handlers,
        guards=[scope_guard],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        security=[{"bearer": []}],
    )
    openapi = OpenAPIConfig(
        title="Vigil API",
        version="1.0.0",
        description="Fraud decisions, cases, rulepacks and the audit trail. "
        "Get a token with the client-credentials grant at POST /oauth/token; "
        "errors are RFC 9457 problem details.",
        path="/schema",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                "basic": SecurityScheme(type="http", scheme="basic"),
            }
        ),
    )
    app = VigilApp(
        route_handlers=[
            meta.health,
            meta.ready,
            meta.metrics,
            meta.jwks,
            oauth.token,
            oauth.revoke,
            oauth.introspect,
            v1,
        ],
        exception_handlers={
            ApiProblem: on_api_problem,
            CaseworkError: on_domain_error,
            HTTPException: on_http_exception,
            DataError: on_data_error,
            RedisError: on_unavailable,
            Exception: on_unexpected,
        },
        openapi_config=openapi,
        on_startup=[_warm_demo_engine],
        on_shutdown=[services.close],
        request_max_body_size=events.MAX_BODY,
        logging_config=None,
    )
    app.services = services
    document_event_bodies(app)
    app.state.services = services
    return app
