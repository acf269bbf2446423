"""OAuth 2.0 endpoints: client-credentials token (RFC 6749 §4.4), revocation (RFC 7009),
introspection (RFC 7662).

Clients authenticate with HTTP Basic (``client_secret_basic``) or form fields
(``client_secret_post``). Errors here use the OAuth error format of RFC 6749 §5.2
(``{"error": ..., "error_description": ...}``), which OAuth clients expect, not
problem details. Every token issued and revoked is written to the tenant's audit trail.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

import msgspec
from litestar import Request, Response, post

from api.auth import secrets as client_secrets
from api.auth.guard import services_of
from api.auth.scopes import scopes_for
from api.auth.tokens import Principal, TokenError
from api.observability import request_id_of
from api.services import Services
from casework import audit, lookups
from casework.context import Actor, Context
from casework.models import ApiClient

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthError(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    error_description: str | None = None


class Introspection(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    tenant: str | None = None
    role: str | None = None
    exp: int | None = None
    jti: str | None = None
    token_type: str | None = None
    iss: str | None = None
    aud: str | None = None


class _Failure(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _error(exc: _Failure) -> Response[OAuthError]:
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="vigil"'
    return Response(OAuthError(exc.error, exc.description), status_code=exc.status, headers=headers)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise _Failure(400, "invalid_request", "send the parameters form-encoded")
    form = await request.form()
    return {str(k): str(v) for k, v in form.items()}


def _credentials(request: Request[Any, Any, Any], form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _Failure(401, "invalid_client", "malformed Basic credentials") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise _Failure(401, "invalid_client", "malformed Basic credentials")
        return unquote_plus(client_id), unquote_plus(secret)
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    raise _Failure(401, "invalid_client", "authenticate the client (HTTP Basic or client_id/client_secret)")


async def _authenticate_client(services: Services, client_id: str, secret: str) -> ApiClient:
    client = await services.in_tx(lookups.find_client, client_id)
    valid = await services.run(client_secrets.verify_secret, client.secret_hash if client else None, secret)
    if client is None or not valid or not client.active:
        raise _Failure(401, "invalid_client", "unknown client, wrong secret or disabled client")
    return client


def _audit(
    services: Services, client: ApiClient, action: str, details: dict[str, list[Any]], rid: str | None
) -> Any:
    ctx = Context(client.tenant_id, Actor("client", client.id), rid)
    return services.in_tx(audit.record, ctx, action, "client", client.id, details)


@post(
    "/oauth/token",
    tags=["oauth"],
    summary="Client-credentials grant: an access token for an API client",
    status_code=200,
    security=[{"basic": []}],
)
async def token(request: Request[Any, Any, Any]) -> Response[Any]:
    services = services_of(request)
    try:
        form = await _form(request)
        client_id, secret = _credentials(request, form)
        client = await _authenticate_client(services, client_id, secret)
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise _Failure(400, "unsupported_grant_type", "this server issues tokens for client_credentials")
        allowed = scopes_for(client.role)
        requested = frozenset(form.get("scope", "").split())
        if requested - allowed:
            extra = ", ".join(sorted(requested - allowed))
            raise _Failure(400, "invalid_scope", f"the {client.role} role cannot have: {extra}")
        granted = requested or allowed
    except _Failure as exc:
        return _error(exc)
    access_token, principal = services.tokens.issue(
        tenant=client.tenant_id,
        subject=f"client:{client.id}",
        role=client.role,
        scopes=granted,
        client_id=client.id,
    )
    details = {"jti": [None, principal.token_id], "scope": [None, " ".join(sorted(granted))]}
    await _audit(services, client, "token.issued", details, request_id_of(request.scope))
    services.metrics.tokens.labels(client.role).inc()
    body = TokenResponse(access_token, "Bearer", services.settings.auth.token_ttl, " ".join(sorted(granted)))
    return Response(body, headers=_NO_STORE)


async def _peek(services: Services, token_value: str) -> Principal | None:
    try:
        return services.tokens.verify(token_value)
    except TokenError:
        return None


@post("/oauth/revoke", tags=["oauth"], summary="Revoke an access token (RFC 7009)", status_code=200)
async def revoke(request: Request[Any, Any, Any]) -> Response[Any]:
    services = services_of(request)
    try:
        form = await _form(request)
        client = await _authenticate_client(services, *_credentials(request, form))
        if not form.get("token"):
            raise _Failure(400, "invalid_request", "give the token to revoke")
    except _Failure as exc:
        return _error(exc)
    principal = await _peek(services, form["token"])
    # RFC 7009 §2.2: an invalid or foreign token still answers 200, and nothing happens
    if principal is not None and principal.tenant == client.tenant_id:
        services.tokens.revoked.revoke(principal.token_id, principal.expires_at)
        details = {"jti": [None, principal.token_id], "subject": [None, principal.subject]}
        await _audit(services, client, "token.revoked", details, request_id_of(request.scope))
    return Response(b"", status_code=200, headers=_NO_STORE)


@post("/oauth/introspect", tags=["oauth"], summary="Introspect an access token (RFC 7662)", status_code=200)
async def introspect(request: Request[Any, Any, Any]) -> Response[Any]:
    services = services_of(request)
    try:
        form = await _form(request)
        client = await _authenticate_client(services, *_credentials(request, form))
        if not form.get("token"):
            raise _Failure(400, "invalid_request", "give the token to introspect")
    except _Failure as exc:
        return _error(exc)
    principal = await _peek(services, form["token"])
    if principal is None or principal.tenant != client.tenant_id:
        return Response(Introspection(active=False), headers=_NO_STORE)
    auth = services.settings.auth
    body = Introspection(
        active=True,
        scope=" ".join(sorted(principal.scopes)),
        client_id=principal.client_id,
        sub=principal.subject,
        tenant=principal.tenant,
        role=principal.role,
        exp=principal.expires_at,
        jti=principal.token_id,
        token_type="Bearer",
        iss=auth.issuer,
        aud=auth.audience,
    )
    return Response(body, headers=_NO_STORE)
