"""Audit exports: the entries of a time range as JSONL or CSV plus a signed manifest, and the
offline check of such an export with only the public key.

An export folder holds ``entries.jsonl`` (or ``entries.csv``), ``manifest.json``
(canonical JSON: count, first and last sequence, the hash before the first entry,
the last hash, time range, file digest, key id) and ``manifest.sig`` (base64 Ed25519
signature over the manifest bytes). The entries exported are the contiguous run of
sequence numbers whose times fall in the range, so the chain can be re-walked offline.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casework import audit, outbox
from casework.canonical import canonical_json, canonical_time, chain_hash
from casework.context import Context
from casework.errors import ExportError, InvalidInput
from casework.models import AuditEntry
from casework.signing import key_id, load_private_key, load_public_key, signature_valid

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
COLUMNS: tuple[str, ...] = (*audit.HASHED_FIELDS, "prev_hash", "hash")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class ExportManifest(msgspec.Struct, frozen=True, kw_only=True):
    manifest_version: int = 1
    tenant: str
    format: Format
    file: str
    file_sha256: str
    count: int
    first_seq: int | None
    last_seq: int | None
    #: the hash the first exported entry chains from (the genesis hash for seq 1)
    first_prev_hash: str | None
    last_hash: str | None
    range_from: str | None
    range_to: str | None
    first_at: str | None
    last_at: str | None
    exported_at: str
    key_id: str


class ExportCheck(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    count: int
    first_seq: int | None = None
    last_seq: int | None = None
    first_broken_seq: int | None = None
    problem: str | None = None


def _seq_bounds(
    session: Session, tenant: str, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[int | None, int | None]:
    conditions = [AuditEntry.tenant_id == tenant]
    if start is not None:
        conditions.append(AuditEntry.at >= start)
    if end is not None:
        conditions.append(AuditEntry.at < end)
    first, last = session.execute(
        sa.select(sa.func.min(AuditEntry.seq), sa.func.max(AuditEntry.seq)).where(*conditions)
    ).one()
    return first, last


def _csv_line(entry: dict[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(_csv_cells(entry))
    return buffer.getvalue()


def _csv_cells(entry: dict[str, Any]) -> list[str]:
    cells = []
    for name in COLUMNS:
        value = entry[name]
        if name == "changes":
            cells.append(canonical_json(value).decode())
        elif value is None:
            cells.append("")
        else:
            cells.append(str(value))
    return cells


def export(
    session: Session,
    ctx: Context,
    out_dir: Path,
    private_key_path: Path,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    fmt: str = "jsonl",
) -> ExportManifest:
    """Write the tenant's entries with ``start <= at < end`` and the signed manifest to ``out_dir``.

    The export itself is appended to the audit trail (after the exported range).
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; formats are {', '.join(FORMATS)}")
    export_format: Format = "csv" if fmt == "csv" else "jsonl"
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the end of the export range must be after its start")
    key = load_private_key(private_key_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"entries.{export_format}"
    first_seq, last_seq = _seq_bounds(session, ctx.tenant, start, end)
    digest = hashlib.sha256()
    count, first, last = 0, None, None
    with (out_dir / name).open("w", encoding="utf-8", newline="") as handle:
        if export_format == "csv":
            header = ",".join(COLUMNS) + "\n"
            handle.write(header)
            digest.update(header.encode())
        if first_seq is not None and last_seq is not None:
            for entry in _range(session, ctx.tenant, first_seq, last_seq):
                fields = audit.hashed_fields(entry)
                row = {**fields, "prev_hash": entry["prev_hash"], "hash": entry["hash"]}
                line = canonical_json(row).decode() + "\n" if export_format == "jsonl" else _csv_line(row)
                handle.write(line)
                digest.update(line.encode())
                first = first or row
                last = row
                count += 1
    manifest = ExportManifest(
        tenant=ctx.tenant,
        format=export_format,
        file=name,
        file_sha256=digest.hexdigest(),
        count=count,
        first_seq=first["seq"] if first else None,
        last_seq=last["seq"] if last else None,
        first_prev_hash=first["prev_hash"] if first else None,
        last_hash=last["hash"] if last else None,
        range_from=canonical_time(start) if start else None,
        range_to=canonical_time(end) if end else None,
        first_at=first["at"] if first else None,
        last_at=last["at"] if last else None,
        exported_at=canonical_time(ctx.now),
        key_id=key_id(key.public_key()),
    )
    manifest_bytes = canonical_json(manifest)
    (out_dir / MANIFEST).write_bytes(manifest_bytes)
    (out_dir / SIGNATURE).write_bytes(base64.b64encode(key.sign(manifest_bytes)) + b"\n")
    summary = {
        "count": count,
        "first_seq": manifest.first_seq,
        "last_seq": manifest.last_seq,
        "format": export_format,
    }
    audit.record(
        session, ctx, "audit.exported", "audit", ctx.tenant, {k: [None, v] for k, v in summary.items()}
    )
    outbox.write(session, [outbox.message(ctx, "audit.exported", summary | {"key_id": manifest.key_id})])
    return manifest


def _range(session: Session, tenant: str, first_seq: int, last_seq: int) -> Iterator[dict[str, Any]]:
    for entry in audit.entries(session, tenant, after_seq=first_seq - 1):
        if entry["seq"] > last_seq:
            return
        yield entry


def _read_entries(path: Path, fmt: Format) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for line in handle:
                yield msgspec.json.decode(line)
            return
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != list(COLUMNS):
            raise ValueError(f"unexpected CSV header {header}")
        for cells in reader:
            row: dict[str, Any] = dict(zip(COLUMNS, cells, strict=True))
            row["seq"] = int(row["seq"])
            row["changes"] = msgspec.json.decode(row["changes"])
            row["request_id"] = row["request_id"] or None
            yield row


def verify_export(directory: Path, public_key_path: Path) -> ExportCheck:
    """Check an export with only its folder and the public key: signature, file digest, chain."""
    key = load_public_key(public_key_path)
    try:
        manifest_bytes = (directory / MANIFEST).read_bytes()
        signature = base64.b64decode((directory / SIGNATURE).read_bytes().strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{directory} is not a readable audit export: {exc}") from None
    if not signature_valid(key, signature, manifest_bytes):
        return ExportCheck(
            ok=False, count=0, problem="the manifest signature does not verify with this public key"
        )
    manifest = msgspec.json.decode(manifest_bytes, type=ExportManifest)
    path = directory / manifest.file
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return ExportCheck(ok=False, count=0, problem=f"cannot read {manifest.file}: {exc}")
    count, expected_seq, prev = 0, manifest.first_seq, manifest.first_prev_hash

    def broken(seq: int | None, problem: str) -> ExportCheck:
        return ExportCheck(
            ok=False,
            count=count,
            first_seq=manifest.first_seq,
            last_seq=manifest.last_seq,
            first_broken_seq=seq,
            problem=problem,
        )

    try:
        for entry in _read_entries(path, manifest.format):
            seq = entry["seq"]
            if seq != expected_seq:
                return broken(expected_seq, f"entry {expected_seq} is missing or out of place (found {seq})")
            if entry["prev_hash"] != prev:
                return broken(seq, f"entry {seq} does not chain from the entry before it")
            if chain_hash(audit.hashed_fields(entry), entry["prev_hash"]) != entry["hash"]:
                return broken(seq, f"entry {seq} was altered: its content does not match its hash")
            if entry["tenant_id"] != manifest.tenant:
                return broken(seq, f"entry {seq} belongs to tenant {entry['tenant_id']!r}")
            prev = entry["hash"]
            expected_seq = seq + 1
            count += 1
    except (ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
        return broken(expected_seq, f"{manifest.file} is malformed near entry {expected_seq}: {exc}")
    if count != manifest.count:
        return broken(
            expected_seq, f"{manifest.file} has {count} entries, the manifest says {manifest.count}"
        )
    if prev != manifest.last_hash:
        return broken(manifest.last_seq, "the last entry's hash differs from the manifest's")
    if actual != manifest.file_sha256:
        # the chain checks above passed, so the difference is outside any entry's hashed content
        return broken(None, f"{manifest.file} does not match the digest in the manifest")
    return ExportCheck(ok=True, count=count, first_seq=manifest.first_seq, last_seq=manifest.last_seq)
