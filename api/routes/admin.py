"""Administration of a tenant: API clients and users with their roles. Every change goes
through casework, so it is audited; a client secret is shown once, when it is made."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.params import FromPath, JSONBody

from api.auth import scopes
from api.auth import secrets as client_secrets
from api.auth.guard import context_of, services_of
from api.types import PathId
from casework import clients, tenants
from casework.models import ApiClient, User

_ADMIN = {"scope": scopes.ADMIN}


class ClientIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: str
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ClientCreated(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    #: shown this once; only its hash is stored
    client_secret: str
    role: str


class ClientView(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    role: str
    description: str
    active: bool
    created_at: dt.datetime


class UserIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    roles: list[str]
    display_name: str = ""
    email: str | None = None


class RolesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    roles: list[str]


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    display_name: str
    email: str | None
    active: bool
    roles: list[str]
    created_at: dt.datetime


def _client_view(row: ApiClient) -> ClientView:
    return ClientView(
        client_id=row.id,
        role=row.role,
        description=row.description,
        active=row.active,
        created_at=row.created_at,
    )


def _user_view(row: User, roles: list[str]) -> UserView:
    return UserView(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        active=row.active,
        roles=roles,
        created_at=row.created_at,
    )


@post(
    "/admin/clients",
    opt=_ADMIN,
    tags=["admin"],
    summary="Create an API client; its secret is shown once",
    status_code=201,
)
async def create_client(request: Request[Any, Any, Any], data: JSONBody[ClientIn]) -> ClientCreated:
    client_id = client_secrets.new_client_id()
    secret = client_secrets.new_client_secret()
    secret_hash = client_secrets.hash_secret(secret)
    await services_of(request).in_tx(
        clients.create_client, context_of(request), client_id, data.role, secret_hash, data.description
    )
    return ClientCreated(client_id=client_id, client_secret=secret, role=data.role)


@get(
    "/admin/clients/{client_id:str}", opt=_ADMIN, tags=["admin"], summary="One API client (never its secret)"
)
async def get_client(request: Request[Any, Any, Any], client_id: FromPath[str]) -> ClientView:
    ctx = context_of(request)
    return await services_of(request).in_tx(
        lambda s: _client_view(clients.get_client(s, ctx.tenant, client_id))
    )


@post(
    "/admin/clients/{client_id:str}/rotate",
    opt=_ADMIN,
    tags=["admin"],
    summary="A new secret for the client (shown once); the old one stops working",
    status_code=200,
)
async def rotate_client(request: Request[Any, Any, Any], client_id: FromPath[str]) -> ClientCreated:
    secret = client_secrets.new_client_secret()
    ctx = context_of(request)

    def work(session: Any) -> ClientCreated:
        clients.rotate_secret(session, ctx, client_id, client_secrets.hash_secret(secret))
        row = clients.get_client(session, ctx.tenant, client_id)
        return ClientCreated(client_id=client_id, client_secret=secret, role=row.role)

    return await services_of(request).in_tx(work)


async def _client_active(request: Request[Any, Any, Any], client_id: str, active: bool) -> ClientView:
    ctx = context_of(request)

    def work(session: Any) -> ClientView:
        clients.set_active(session, ctx, client_id, active)
        return _client_view(clients.get_client(session, ctx.tenant, client_id))

    return await services_of(request).in_tx(work)


@post(
    "/admin/clients/{client_id:str}/disable",
    opt=_ADMIN,
    tags=["admin"],
    summary="Disable a client: no new tokens, and its tokens stop working within seconds",
    status_code=200,
)
async def disable_client(request: Request[Any, Any, Any], client_id: FromPath[str]) -> ClientView:
    return await _client_active(request, client_id, False)


@post(
    "/admin/clients/{client_id:str}/enable",
    opt=_ADMIN,
    tags=["admin"],
    summary="Enable a client",
    status_code=200,
)
async def enable_client(request: Request[Any, Any, Any], client_id: FromPath[str]) -> ClientView:
    return await _client_active(request, client_id, True)


@post("/admin/users", opt=_ADMIN, tags=["admin"], summary="Create a user with roles", status_code=201)
async def create_user(request: Request[Any, Any, Any], data: JSONBody[UserIn]) -> UserView:
    ctx = context_of(request)

    def work(session: Any) -> UserView:
        user = tenants.create_user(session, ctx, data.username, data.roles, data.display_name, data.email)
        return _user_view(user, tenants.user_roles(session, ctx.tenant, user.id))

    return await services_of(request).in_tx(work)


async def _user(request: Request[Any, Any, Any], user_id: int) -> UserView:
    ctx = context_of(request)

    def work(session: Any) -> UserView:
        user = tenants.get_user(session, ctx.tenant, user_id)
        return _user_view(user, tenants.user_roles(session, ctx.tenant, user_id))

    return await services_of(request).in_tx(work)


@get("/admin/users/{user_id:int}", opt=_ADMIN, tags=["admin"], summary="One user with roles")
async def get_user(request: Request[Any, Any, Any], user_id: PathId) -> UserView:
    return await _user(request, user_id)


@put(
    "/admin/users/{user_id:int}/roles",
    opt=_ADMIN,
    tags=["admin"],
    summary="Replace a user's roles",
    status_code=200,
)
async def set_roles(request: Request[Any, Any, Any], user_id: PathId, data: JSONBody[RolesIn]) -> UserView:
    await services_of(request).in_tx(tenants.set_roles, context_of(request), user_id, data.roles)
    return await _user(request, user_id)


@post(
    "/admin/users/{user_id:int}/deactivate",
    opt=_ADMIN,
    tags=["admin"],
    summary="Deactivate a user",
    status_code=200,
)
async def deactivate_user(request: Request[Any, Any, Any], user_id: PathId) -> UserView:
    await services_of(request).in_tx(tenants.set_active, context_of(request), user_id, False)
    return await _user(request, user_id)


@post(
    "/admin/users/{user_id:int}/activate",
    opt=_ADMIN,
    tags=["admin"],
    summary="Activate a user",
    status_code=200,
)
async def activate_user(request: Request[Any, Any, Any], user_id: PathId) -> UserView:
    await services_of(request).in_tx(tenants.set_active, context_of(request), user_id, True)
    return await _user(request, user_id)


ROUTES = [
    create_client,
    get_client,
    rotate_client,
    disable_client,
    enable_client,
    create_user,
    get_user,
    set_roles,
    deactivate_user,
    activate_user,
]
