"""Signed audit exports: written from the store, checked offline with only the public key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from casework import audit, audit_export
from casework.audit_export import verify_export
from casework.context import Actor, Context
from casework.db import transaction
from casework.errors import ExportError, InvalidInput
from casework.signing import generate_keypair

T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
COMPLIANCE = Actor("user", "3")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "export.pem", tmp_path / "keys" / "export.pub"
    generate_keypair(private, public)
    assert private.stat().st_mode & 0o777 == 0o600
    return private, public


def _fill(engine: Engine, tenant: str, hours: int) -> None:
    with transaction(engine) as session:
        for h in range(hours):
            ctx = Context(
                tenant, COMPLIANCE, request_id=None if h % 2 else f"r{h}", now=T0 + dt.timedelta(hours=h)
            )
            changes = {"note": [None, f'line "{h}", with, commas\nand newline'], "score": [1.25, h * 0.1]}
            audit.record(session, ctx, "case.noted", "case", str(h), changes)


def _export(
    engine: Engine, tenant: str, out: Path, private: Path, fmt: str, **kw: dt.datetime
) -> audit_export.ExportManifest:
    with transaction(engine) as session:
        return audit_export.export(
            session, Context(tenant, COMPLIANCE, now=T0 + dt.timedelta(days=1)), out, private, fmt=fmt, **kw
        )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_round_trip(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path, fmt: str
) -> None:
    private, public = keys
    _fill(engine, tenant, 10)
    out = tmp_path / "export"
    manifest = _export(
        engine, tenant, out, private, fmt, start=T0 + dt.timedelta(hours=2), end=T0 + dt.timedelta(hours=6)
    )
    # entry 1 is the tenant's creation; hour h is entry h + 2
    assert (manifest.count, manifest.first_seq, manifest.last_seq) == (4, 4, 7)
    assert (
        manifest.first_at == "2026-02-01T02:00:00.000000Z"
        and manifest.range_to == "2026-02-01T06:00:00.000000Z"
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"entries.{fmt}", "manifest.json", "manifest.sig"]
    )
    check = verify_export(out, public)
    assert check == audit_export.ExportCheck(ok=True, count=4, first_seq=4, last_seq=7)
    with transaction(engine) as session:
        last = list(audit.entries(session, tenant))[-1]
        assert last["action"] == "audit.exported" and last["changes"]["count"] == [None, 4]
        assert audit.verify(session, tenant).ok


def test_full_export_starts_at_genesis(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    _fill(engine, tenant, 3)
    manifest = _export(engine, tenant, tmp_path / "all", keys[0], "jsonl")
    assert (manifest.first_seq, manifest.last_seq, manifest.first_prev_hash) == (1, 4, "0" * 64)
    assert verify_export(tmp_path / "all", keys[1]).ok


def test_empty_range(engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    manifest = _export(engine, tenant, tmp_path / "none", keys[0], "csv", start=T0 + dt.timedelta(days=300))
    assert manifest.count == 0 and manifest.first_seq is None
    assert verify_export(tmp_path / "none", keys[1]).ok


def _exported(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path, fmt: str = "jsonl"
) -> Path:
    _fill(engine, tenant, 6)
    out = tmp_path / "export"
    _export(engine, tenant, out, keys[0], fmt)
    return out


def test_edited_entry_is_found(engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    out = _exported(engine, tenant, keys, tmp_path)
    lines = (out / "entries.jsonl").read_text().splitlines()
    entry = json.loads(lines[3])
    entry["actor_id"] = "mallory"
    lines[3] = json.dumps(entry)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    check = verify_export(out, keys[1])
    assert (check.ok, check.first_broken_seq) == (False, 4)


def test_dropped_entry_is_found(engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    out = _exported(engine, tenant, keys, tmp_path, "csv")
    lines = (out / "entries.csv").read_text().splitlines(keepends=True)
    del lines[3]  # header + entries 1, 2 -> entry 3 goes
    (out / "entries.csv").write_text("".join(lines))
    assert verify_export(out, keys[1]).first_broken_seq == 3


def test_swapped_entries_are_found(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    out = _exported(engine, tenant, keys, tmp_path)
    lines = (out / "entries.jsonl").read_text().splitlines(keepends=True)
    lines[2], lines[4] = lines[4], lines[2]
    (out / "entries.jsonl").write_text("".join(lines))
    assert verify_export(out, keys[1]).first_broken_seq == 3


def test_forged_manifest_fails_the_signature(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    out = _exported(engine, tenant, keys, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["count"] = 3
    (out / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, separators=(",", ":")))
    check = verify_export(out, keys[1])
    assert not check.ok and "signature" in (check.problem or "")


def test_truncated_tail_is_found(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    out = _exported(engine, tenant, keys, tmp_path)
    lines = (out / "entries.jsonl").read_text().splitlines(keepends=True)
    (out / "entries.jsonl").write_text("".join(lines[:-1]))
    check = verify_export(out, keys[1])
    assert not check.ok and "manifest says 7" in (check.problem or "")


def test_another_key_does_not_verify(
    engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    out = _exported(engine, tenant, keys, tmp_path)
    generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    assert not verify_export(out, tmp_path / "other.pub").ok


def test_bad_arguments(engine: Engine, tenant: str, keys: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown export format 'xml'"):
        _export(engine, tenant, tmp_path / "x", keys[0], "xml")
    with pytest.raises(ExportError, match="cannot read the private key"):
        _export(engine, tenant, tmp_path / "x", tmp_path / "missing.pem", "csv")
    with pytest.raises(ExportError, match="not a readable audit export"):
        verify_export(tmp_path / "nowhere", keys[1])
