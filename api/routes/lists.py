"""Managed lists (``list x = managed "name"`` in a pack) and reference data over HTTP.

List edits reach this process's engine at once and every other process's at its next
check of the store."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from api.auth import scopes
from api.auth.guard import context_of, services_of
from casework import lists, reference
from casework.lists import ItemChange

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ListIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    description: str = ""


class ItemsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    items: Annotated[list[str], msgspec.Meta(min_length=1, max_length=10_000)]


class ListView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    items: list[str]


class ItemsChanged(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    #: the items this call added (or removed); the others were already there (or absent)
    changed: list[str]
    items: list[str]


class ListCreated(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    created_at: dt.datetime


class ReferenceView(msgspec.Struct, frozen=True, kw_only=True):
    dataset: str
    items: dict[str, Any]


_READ = {"scope": scopes.LISTS_READ}
_WRITE = {"scope": scopes.LISTS_WRITE}


@post("/lists", opt=_WRITE, tags=["lists"], summary="Create a managed list", status_code=201)
async def create_list(request: Request[Any, Any, Any], data: JSONBody[ListIn]) -> ListCreated:
    ctx = context_of(request)
    await services_of(request).in_tx(lists.create_list, ctx, data.name, data.description)
    return ListCreated(name=data.name.strip(), description=data.description, created_at=ctx.now)


@get("/lists/{name:str}", opt=_READ, tags=["lists"], summary="A list's items")
async def get_list(request: Request[Any, Any, Any], name: FromPath[str]) -> ListView:
    ctx = context_of(request)
    return ListView(name=name, items=await services_of(request).in_tx(lists.items, ctx.tenant, name))


async def _change(request: Request[Any, Any, Any], name: str, values: list[str], add: bool) -> ItemsChanged:
    services = services_of(request)
    ctx = context_of(request)

    def work(session: Any) -> tuple[list[str], list[str]]:
        changed = (lists.add_items if add else lists.remove_items)(session, ctx, name, values)
        return changed, lists.items(session, ctx.tenant, name)

    changed, items = await services.in_tx(work)
    services.engines.set_list(ctx.tenant, name, items)
    return ItemsChanged(name=name, changed=changed, items=items)


@post("/lists/{name:str}/items", opt=_WRITE, tags=["lists"], summary="Add items", status_code=200)
async def add_items(
    request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[ItemsIn]
) -> ItemsChanged:
    return await _change(request, name, data.items, add=True)


@post("/lists/{name:str}/items/remove", opt=_WRITE, tags=["lists"], summary="Remove items", status_code=200)
async def remove_items(
    request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[ItemsIn]
) -> ItemsChanged:
    return await _change(request, name, data.items, add=False)


@get("/lists/{name:str}/history", opt=_READ, tags=["lists"], summary="Every add and remove, oldest first")
async def list_history(request: Request[Any, Any, Any], name: FromPath[str]) -> list[ItemChange]:
    ctx = context_of(request)
    return await services_of(request).in_tx(lists.history, ctx.tenant, name)


@get("/reference/{dataset:str}", opt=_READ, tags=["lists"], summary="A reference dataset's records by key")
async def get_reference(request: Request[Any, Any, Any], dataset: FromPath[str]) -> ReferenceView:
    ctx = context_of(request)
    items = await services_of(request).in_tx(reference.items, ctx.tenant, dataset)
    return ReferenceView(dataset=dataset, items=items)


@put(
    "/reference/{dataset:str}/{key:str}",
    opt=_WRITE,
    tags=["lists"],
    summary="Set one reference record (any JSON value)",
    status_code=200,
)
async def put_reference(
    request: Request[Any, Any, Any], dataset: FromPath[str], key: FromPath[str], data: JSONBody[Any]
) -> ReferenceView:
    services = services_of(request)
    ctx = context_of(request)
    await services.in_tx(reference.put, ctx, dataset, key, data)
    return ReferenceView(dataset=dataset, items={key: data})


@delete(
    "/reference/{dataset:str}/{key:str}",
    opt=_WRITE,
    tags=["lists"],
    summary="Delete one reference record",
    status_code=204,
)
async def delete_reference(
    request: Request[Any, Any, Any], dataset: FromPath[str], key: FromPath[str]
) -> None:
    await services_of(request).in_tx(reference.delete, context_of(request), dataset, key)


ROUTES = [
    create_list,
    get_list,
    add_items,
    remove_items,
    list_history,
    get_reference,
    put_reference,
    delete_reference,
]
