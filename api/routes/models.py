"""Model versions over HTTP: list a model's versions with their metrics, and activate one.
Engines pick an activation up at their next check of the store (feature hash checked).
Training is ``vigil train``; a training route as a background job is still to come."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, JSONBody

from api.auth import scopes
from api.auth.guard import context_of, services_of
from casework import model_store
from casework.model_store import ModelView


class ActivateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str


@get(
    "/models/{name:str}/versions",
    opt={"scope": scopes.MODELS_READ},
    tags=["models"],
    summary="A model's versions with their metrics; one is active",
)
async def versions(request: Request[Any, Any, Any], name: FromPath[str]) -> list[ModelView]:
    ctx = context_of(request)
    return await services_of(request).in_tx(model_store.versions, ctx.tenant, name)


@post(
    "/models/{name:str}/activate",
    opt={"scope": scopes.MODELS_WRITE},
    tags=["models"],
    summary="Score with this version from now on",
    status_code=200,
)
async def activate(
    request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[ActivateIn]
) -> ModelView:
    return await services_of(request).in_tx(model_store.activate, context_of(request), name, data.version)


ROUTES = [versions, activate]
