"""Bearer-token authentication and per-route scopes.

Every ``/v1`` route declares ``opt={"scope": ...}``; the guard checks the token, then
the scope. A missing or bad token is 401, a token without the scope is 403. The
principal's tenant confines every call into casework, so another tenant's ids are
simply not found (404).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth.tokens import Principal, TokenError
from api.observability import request_id_of
from api.problems import ApiProblem
from api.services import Services
from casework.context import Actor, Context


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services


def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(
            401,
            "unauthorized",
            "send an access token: Authorization: Bearer <token> (get one at POST /oauth/token)",
            headers={"WWW-Authenticate": 'Bearer realm="vigil"'},
        )
    try:
        return services_of(connection).tokens.verify(token.strip())
    except TokenError as exc:
        raise ApiProblem(
            401,
            "invalid_token",
            str(exc),
            headers={"WWW-Authenticate": 'Bearer realm="vigil", error="invalid_token"'},
        ) from None


async def scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    needed = handler.opt.get("scope")
    if not needed and connection.scope.get("method") == "OPTIONS":
        return  # Litestar's own OPTIONS answer: no data behind it
    if not needed:
        raise ApiProblem(500, "internal_error", "this route declares no scope")
    principal = authenticate(connection)
    services = services_of(connection)
    active = services.active.cached(principal)
    if active is None:
        active = await services.run(services.active.lookup, principal)
    if not active:
        raise ApiProblem(
            401,
            "invalid_token",
            "the client or user of this token is disabled",
            headers={"WWW-Authenticate": 'Bearer realm="vigil", error="invalid_token"'},
        )
    if needed not in principal.scopes:
        raise ApiProblem(
            403,
            "insufficient_scope",
            f"this route needs the scope {needed!r}; the {principal.role} role does not have it",
            headers={
                "WWW-Authenticate": f'Bearer realm="vigil", error="insufficient_scope", scope="{needed}"'
            },
        )
    wait = await services.rate_limiter.acquire(principal.tenant, principal.subject)
    if wait is not None:
        raise ApiProblem(
            429,
            "rate_limited",
            f"too many requests; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    connection.state.principal = principal


def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = request.state.principal
    return principal


def context_of(request: ASGIConnection[Any, Any, Any, Any]) -> Context:
    """The casework context of a request: the token's tenant and actor, and the request id."""
    principal: Principal = request.state.principal
    actor = Actor("client" if principal.actor_type == "client" else "user", principal.actor_id)
    return Context(principal.tenant, actor, request_id_of(request.scope))
