"""The audit trail over HTTP: read entries, verify the chain, and export a signed range.

An export answers a tar stream of exactly what ``vigil audit export`` writes to a
folder (``entries.jsonl`` or ``entries.csv``, ``manifest.json``, ``manifest.sig``), so
``vigil audit verify-export`` checks it offline with the key from ``/v1/audit/export-key``.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from anyio import to_thread
from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.auth import scopes
from api.auth.guard import context_of, services_of
from api.problems import ApiProblem
from api.types import QuerySeq
from casework import audit, audit_export, signing
from casework.audit import VerifyResult


class AuditEntryView(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: Any
    actor_type: str
    actor_id: str
    action: str
    object_type: str
    object_id: str
    changes: Any
    request_id: str | None = None
    prev_hash: str
    hash: str


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AuditEntryView]
    #: pass back as ``after_seq`` for the next page; None on the last page
    next_after_seq: int | None = None


class ExportKey(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    public_key_pem: str


_READ = {"scope": scopes.AUDIT_READ}
_EXPORT = {"scope": scopes.AUDIT_EXPORT}


def _public_path(private: Path) -> Path:
    return private.with_suffix(".pub")


def _ensure_export_key(private: Path) -> None:
    if not private.exists():
        private.parent.mkdir(parents=True, exist_ok=True)
        signing.generate_keypair(private, _public_path(private))


@get("/audit", opt=_READ, tags=["audit"], summary="Audit entries in sequence order, filtered, in pages")
async def list_entries(
    request: Request[Any, Any, Any],
    after_seq: QuerySeq = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    action: FromQuery[str | None] = None,
    object_type: FromQuery[str | None] = None,
    object_id: FromQuery[str | None] = None,
) -> AuditPage:
    ctx = context_of(request)

    def work(session: Any) -> AuditPage:
        found: list[AuditEntryView] = []
        for entry in audit.entries(session, ctx.tenant, after_seq=after_seq):
            if action is not None and entry["action"] != action:
                continue
            if object_type is not None and entry["object_type"] != object_type:
                continue
            if object_id is not None and entry["object_id"] != object_id:
                continue
            found.append(msgspec.convert(entry, AuditEntryView))
            if len(found) == limit:
                # a full page: there may be more (the next page may also be empty)
                return AuditPage(items=found, next_after_seq=found[-1].seq)
        return AuditPage(items=found)

    return await services_of(request).in_tx(work)


@get("/audit/verify", opt=_READ, tags=["audit"], summary="Walk the chain; the first broken entry, if any")
async def verify(request: Request[Any, Any, Any]) -> VerifyResult:
    ctx = context_of(request)
    return await services_of(request).in_tx(audit.verify, ctx.tenant)


@get("/audit/export-key", opt=_READ, tags=["audit"], summary="The public key that checks export manifests")
async def export_key(request: Request[Any, Any, Any]) -> ExportKey:
    private = services_of(request).settings.audit.export_key_path
    await to_thread.run_sync(_ensure_export_key, private)
    public = signing.load_public_key(_public_path(private))
    return ExportKey(key_id=signing.key_id(public), public_key_pem=_public_path(private).read_text())


@get(
    "/audit/export",
    opt=_EXPORT,
    tags=["audit"],
    summary="A signed export of the entries in [from, to): a tar of entries, manifest.json and manifest.sig",
    media_type="application/x-tar",
)
async def export(
    request: Request[Any, Any, Any],
    start: Annotated[dt.datetime | None, QueryParameter(name="from")] = None,
    end: Annotated[dt.datetime | None, QueryParameter(name="to")] = None,
    fmt: Annotated[Literal["jsonl", "csv"], QueryParameter(name="format")] = "jsonl",
) -> Stream:
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise ApiProblem(400, "validation_error", "give from and to with a time zone (e.g. ...Z)")
    services = services_of(request)
    ctx = context_of(request)
    private = services.settings.audit.export_key_path
    await to_thread.run_sync(_ensure_export_key, private)
    folder = Path(tempfile.mkdtemp(prefix="vigil-export-"))
    try:
        manifest = await services.in_tx(
            audit_export.export, ctx, folder, private, start=start, end=end, fmt=fmt
        )
        archive = await to_thread.run_sync(
            _tar, folder, [manifest.file, audit_export.MANIFEST, audit_export.SIGNATURE]
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                block = await to_thread.run_sync(archive.read, 256 * 1024)
                if not block:
                    return
                yield block
        finally:
            archive.close()

    name = f"audit-{ctx.tenant}-{manifest.first_seq or 0}-{manifest.last_seq or 0}.tar"
    return Stream(
        chunks(),
        media_type="application/x-tar",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Vigil-Export-Count": str(manifest.count),
            "X-Vigil-Key-Id": manifest.key_id,
        },
    )


def _tar(folder: Path, names: list[str]) -> io.BufferedRandom:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response stream
    with tarfile.open(fileobj=spool, mode="w") as tar:
        for name in names:
            tar.add(folder / name, arcname=name)
    spool.seek(0)
    return spool


ROUTES = [list_entries, verify, export_key, export]
