"""Rulepacks over HTTP: upload a version (checked first: errors are a 422 with the JSON
diagnostics), validate or test without storing, diff two versions, publish, roll back,
and read what is active. Engines pick a publish up within their poll interval."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.auth import scopes
from api.auth.guard import context_of, services_of
from api.problems import PROBLEM_JSON, Problem, problem_type
from casework import rulepacks
from casework.rulepacks import ActivePack, PackVersionView
from dsl import ast
from dsl.diagnostics import Diagnostic
from dsl.parser import ParseFailure, parse
from engine.pack import CompiledPack, PackError, load_pack
from engine.testing import TestResult, run_tests

#: the largest pack source accepted (the shipped packs are a few kilobytes)
MAX_SOURCE = 1024 * 1024


class SourceIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SOURCE)]


class PublishIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str


class RollbackIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: the version to go back to; default: the one active before the current one
    to_version: str | None = None


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    pack: str | None = None
    version: str | None = None
    kinds: tuple[str, ...] = ()
    diagnostics: list[Diagnostic] = []


class TestRun(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    passed: int
    failed: int
    results: list[TestResult] = []
    diagnostics: list[Diagnostic] = []


class PackDiff(msgspec.Struct, frozen=True, kw_only=True):
    pack: str
    from_version: str
    to_version: str
    added: list[str]
    removed: list[str]
    changed: list[str]


class ActiveView(msgspec.Struct, frozen=True, kw_only=True):
    pack: str
    version: str
    checksum: str
    author: str
    created_at: dt.datetime


class DiagnosticsProblem(Problem, frozen=True, kw_only=True):
    diagnostics: list[Diagnostic]


def _compile(source: str, path: str) -> tuple[CompiledPack | None, list[Diagnostic]]:
    try:
        pack = load_pack(source, path)
    except PackError as exc:
        return None, exc.diagnostics
    return pack, pack.diagnostics


def _diagnostics_problem(request: Request[Any, Any, Any], diagnostics: list[Diagnostic]) -> Response[Any]:
    errors = [d for d in diagnostics if d.severity == "error"]
    first = errors[0] if errors else None
    detail = (
        f"the pack does not check: {len(errors)} error(s); first: {first.line}:{first.column}: {first.message}"
        if first
        else "the pack does not check"
    )
    body = DiagnosticsProblem(
        type=problem_type("invalid_rulepack"),
        title="Unprocessable content",
        status=422,
        detail=detail,
        instance=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        diagnostics=diagnostics,
    )
    return Response(body, status_code=422, media_type=PROBLEM_JSON)


_READ = {"scope": scopes.RULEPACKS_READ}
_WRITE = {"scope": scopes.RULEPACKS_WRITE}
_PUBLISH = {"scope": scopes.RULEPACKS_PUBLISH}


@get("/rulepacks", opt=_READ, tags=["rulepacks"], summary="The active version of every pack")
async def list_active(request: Request[Any, Any, Any]) -> list[ActiveView]:
    ctx = context_of(request)
    active = await services_of(request).in_tx(rulepacks.active_versions, ctx.tenant)
    return [
        ActiveView(
            pack=v.pack, version=v.version, checksum=v.checksum, author=v.author, created_at=v.created_at
        )
        for v in active.values()
    ]


@post(
    "/rulepacks",
    opt=_WRITE,
    tags=["rulepacks"],
    summary="Upload a pack version (name and version from its header); 422 with diagnostics if it does not check",
    status_code=201,
    responses={},
)
async def upload(request: Request[Any, Any, Any], data: JSONBody[SourceIn]) -> Response[Any]:
    pack, diagnostics = await to_thread.run_sync(_compile, data.source, "<upload>")
    if pack is None:
        return _diagnostics_problem(request, diagnostics)
    view = await services_of(request).in_tx(
        rulepacks.upload, context_of(request), pack.name, pack.version, data.source
    )
    return Response(view, status_code=201)


@post(
    "/rulepacks/validate",
    opt=_WRITE,
    tags=["rulepacks"],
    summary="Check a pack without storing it",
    status_code=200,
)
async def validate(data: JSONBody[SourceIn]) -> Validation:
    pack, diagnostics = await to_thread.run_sync(_compile, data.source, "<validate>")
    if pack is None:
        return Validation(ok=False, diagnostics=diagnostics)
    return Validation(
        ok=True, pack=pack.name, version=pack.version, kinds=pack.kinds, diagnostics=diagnostics
    )


@post(
    "/rulepacks/test",
    opt=_WRITE,
    tags=["rulepacks"],
    summary="Run a pack's inline tests without storing it",
    status_code=200,
)
async def test_pack(data: JSONBody[SourceIn]) -> TestRun:
    def work() -> TestRun:
        pack, diagnostics = _compile(data.source, "<test>")
        if pack is None:
            return TestRun(ok=False, passed=0, failed=0, diagnostics=diagnostics)
        results = run_tests(pack)
        passed = sum(1 for r in results if r.passed)
        return TestRun(
            ok=passed == len(results),
            passed=passed,
            failed=len(results) - passed,
            results=results,
            diagnostics=diagnostics,
        )

    return await to_thread.run_sync(work)


@get(
    "/rulepacks/{pack:str}/versions",
    opt=_READ,
    tags=["rulepacks"],
    summary="Every uploaded version of a pack",
)
async def versions(request: Request[Any, Any, Any], pack: FromPath[str]) -> list[PackVersionView]:
    ctx = context_of(request)
    return await services_of(request).in_tx(rulepacks.list_versions, ctx.tenant, pack)


@get(
    "/rulepacks/{pack:str}/versions/{version:str}",
    opt=_READ,
    tags=["rulepacks"],
    summary="One version with its source",
)
async def get_version(
    request: Request[Any, Any, Any], pack: FromPath[str], version: FromPath[str]
) -> PackVersionView:
    ctx = context_of(request)
    return await services_of(request).in_tx(rulepacks.get_version, ctx.tenant, pack, version)


def _rules(source: str) -> dict[str, ast.Rule]:
    try:
        tree = parse(source)
    except ParseFailure:
        return {}
    return {rule.name: rule for rule in tree.of_type(ast.Rule)}


@get(
    "/rulepacks/{pack:str}/diff",
    opt=_READ,
    tags=["rulepacks"],
    summary="Rules added, removed and changed between two versions",
)
async def diff(
    request: Request[Any, Any, Any],
    pack: FromPath[str],
    from_version: Annotated[str, QueryParameter(name="from")],
    to_version: Annotated[str, QueryParameter(name="to")],
) -> PackDiff:
    ctx = context_of(request)
    services = services_of(request)
    old = await services.in_tx(rulepacks.get_version, ctx.tenant, pack, from_version)
    new = await services.in_tx(rulepacks.get_version, ctx.tenant, pack, to_version)
    before, after = _rules(old.source or ""), _rules(new.source or "")
    return PackDiff(
        pack=pack,
        from_version=from_version,
        to_version=to_version,
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        changed=sorted(name for name in set(before) & set(after) if before[name] != after[name]),
    )


@post(
    "/rulepacks/{pack:str}/publish",
    opt=_PUBLISH,
    tags=["rulepacks"],
    summary="Make a version active",
    status_code=200,
)
async def publish(
    request: Request[Any, Any, Any], pack: FromPath[str], data: JSONBody[PublishIn]
) -> ActivePack:
    return await services_of(request).in_tx(rulepacks.publish, context_of(request), pack, data.version)


@post(
    "/rulepacks/{pack:str}/rollback",
    opt=_PUBLISH,
    tags=["rulepacks"],
    summary="Go back to an earlier published version",
    status_code=200,
)
async def rollback(
    request: Request[Any, Any, Any], pack: FromPath[str], data: JSONBody[RollbackIn]
) -> ActivePack:
    return await services_of(request).in_tx(rulepacks.rollback, context_of(request), pack, data.to_version)


ROUTES = [list_active, upload, validate, test_pack, versions, get_version, diff, publish, rollback]
