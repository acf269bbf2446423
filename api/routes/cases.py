"""The case queue and the case workflow: list, read, claim, assign, transition, snooze,
tag, note and resolve. Every action is the casework function of the same name; the
token's tenant confines it, so another tenant's case is not found (404)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from api.auth import scopes
from api.auth.guard import context_of, services_of
from api.problems import ApiProblem
from api.types import ID_MAX, BodyId
from casework import assignment, case_actions, case_queries, notes
from casework.case_queries import ACTIVE, CaseFilter
from casework.views import CaseDetail, CasePage, CaseView, NoteView

CaseId = Annotated[int, PathParameter(ge=1, le=ID_MAX, description="the case id")]


class AssignIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    user_id: BodyId


class TransitionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: open, investigating, escalated or resolved
    to: str
    reason: str = ""
    #: required to resolve: fraud_confirmed, legitimate or inconclusive
    disposition: str | None = None


class ResolveIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    disposition: str
    reason: str = ""


class SnoozeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    until: Annotated[dt.datetime, msgspec.Meta(tz=True)]


class TagsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    add: list[str] = []
    remove: list[str] = []


class NoteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: str


_READ = {"scope": scopes.CASES_READ}
_WRITE = {"scope": scopes.CASES_WRITE}


@get("/cases", opt=_READ, tags=["cases"], summary="The case queue, most urgent SLA first, cursor-paginated")
async def list_cases(
    request: Request[Any, Any, Any],
    queue: FromQuery[str | None] = None,
    status: Annotated[
        list[str] | None, QueryParameter(description="repeatable; default: every active status")
    ] = None,
    assignee: Annotated[str | None, QueryParameter(description="a user id, or 'unassigned'")] = None,
    priority: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    include_snoozed: FromQuery[bool] = False,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    after: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
) -> CasePage:
    who: int | str | None = assignee
    if assignee is not None and assignee != case_queries.UNASSIGNED:
        if not assignee.isdigit() or int(assignee) > ID_MAX:
            raise ApiProblem(400, "validation_error", "assignee is a user id or 'unassigned'")
        who = int(assignee)
    filters = CaseFilter(
        queue=queue,
        statuses=tuple(status) if status else ACTIVE,
        assignee=who,
        priority=priority,
        tag=tag,
        include_snoozed=include_snoozed,
    )
    ctx = context_of(request)
    return await services_of(request).in_tx(
        case_queries.list_cases, ctx.tenant, filters, now=ctx.now, limit=limit, after=after
    )


@get(
    "/cases/{case_id:int}",
    opt=_READ,
    tags=["cases"],
    summary="A case with its events, hits, explanations, timeline and notes",
)
async def get_case(request: Request[Any, Any, Any], case_id: CaseId) -> CaseDetail:
    ctx = context_of(request)
    return await services_of(request).in_tx(case_queries.case_detail, ctx.tenant, case_id)


@post(
    "/cases/{case_id:int}/claim",
    opt=_WRITE,
    tags=["cases"],
    summary="Take the case (people only)",
    status_code=200,
)
async def claim(request: Request[Any, Any, Any], case_id: CaseId) -> CaseView:
    return await services_of(request).in_tx(assignment.claim, context_of(request), case_id)


@post(
    "/cases/{case_id:int}/assign",
    opt=_WRITE,
    tags=["cases"],
    summary="Give the case to a user",
    status_code=200,
)
async def assign(request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[AssignIn]) -> CaseView:
    return await services_of(request).in_tx(assignment.assign, context_of(request), case_id, data.user_id)


@post(
    "/cases/{case_id:int}/unassign",
    opt=_WRITE,
    tags=["cases"],
    summary="Take the case from its assignee",
    status_code=200,
)
async def unassign(request: Request[Any, Any, Any], case_id: CaseId) -> CaseView:
    return await services_of(request).in_tx(assignment.unassign, context_of(request), case_id)


@post(
    "/cases/{case_id:int}/transition",
    opt=_WRITE,
    tags=["cases"],
    summary="Move the case along its workflow (invalid moves are 409)",
    status_code=200,
)
async def transition(
    request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[TransitionIn]
) -> CaseView:
    return await services_of(request).in_tx(
        case_actions.transition,
        context_of(request),
        case_id,
        data.to,
        disposition=data.disposition,
        reason=data.reason,
    )


@post(
    "/cases/{case_id:int}/resolve",
    opt=_WRITE,
    tags=["cases"],
    summary="Resolve with a disposition; labels every event of the case",
    status_code=200,
)
async def resolve(request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[ResolveIn]) -> CaseView:
    return await services_of(request).in_tx(
        case_actions.resolve, context_of(request), case_id, data.disposition, data.reason
    )


@post(
    "/cases/{case_id:int}/snooze",
    opt=_WRITE,
    tags=["cases"],
    summary="Hide the case until a time",
    status_code=200,
)
async def snooze(request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[SnoozeIn]) -> CaseView:
    return await services_of(request).in_tx(case_actions.snooze, context_of(request), case_id, data.until)


@post("/cases/{case_id:int}/tags", opt=_WRITE, tags=["cases"], summary="Add and remove tags", status_code=200)
async def tags(request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[TagsIn]) -> CaseView:
    services = services_of(request)
    ctx = context_of(request)
    if not data.add and not data.remove:
        raise ApiProblem(422, "invalid_input", "give tags to add or remove")

    def work(session: Any) -> CaseView:
        view = case_actions.add_tags(session, ctx, case_id, data.add) if data.add else None
        if data.remove:
            view = case_actions.remove_tags(session, ctx, case_id, data.remove)
        assert view is not None
        return view

    return await services.in_tx(work)


@post("/cases/{case_id:int}/notes", opt=_WRITE, tags=["cases"], summary="Add a note", status_code=201)
async def add_note(request: Request[Any, Any, Any], case_id: CaseId, data: JSONBody[NoteIn]) -> NoteView:
    return await services_of(request).in_tx(notes.add_note, context_of(request), case_id, data.body)


@put(
    "/cases/{case_id:int}/notes/{note_id:str}",
    opt=_WRITE,
    tags=["cases"],
    summary="Edit a note (a new version; the old one is kept)",
    status_code=200,
)
async def edit_note(
    request: Request[Any, Any, Any], case_id: CaseId, note_id: FromPath[str], data: JSONBody[NoteIn]
) -> NoteView:
    return await services_of(request).in_tx(notes.edit_note, context_of(request), case_id, note_id, data.body)


ROUTES = [
    list_cases,
    get_case,
    claim,
    assign,
    unassign,
    transition,
    resolve,
    snooze,
    tags,
    add_note,
    edit_note,
]
