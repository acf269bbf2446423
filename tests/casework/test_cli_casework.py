"""`vigil db`, `vigil audit` and `vigil retention` end to end through the CLI entry point."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from casework_factories import decision, open_case, payment

from api.cli import main
from casework.context import Context
from casework.db import create_engine, transaction
from casework.recording import record_decisions
from casework.tenants import create_tenant

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_upgrade_record_export_verify_and_tamper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    code, out, _ = _run(capsys, "db", "upgrade", "--url", url)
    assert code == 0 and json.loads(out)["revision"]
    engine = create_engine(url)
    with transaction(engine) as s:
        create_tenant(s, Context("acme", now=T0), "Acme Payments")
        rows = [(payment(f"e{i}"), decision(f"e{i}", case=open_case())) for i in range(3)]
        record_decisions(s, Context("acme", now=T0), rows)

    code, out, _ = _run(capsys, "audit", "verify", "--tenant", "acme", "--url", url)
    [result] = json.loads(out)
    assert code == 0 and result["ok"] and result["entries"] >= 2

    keys = tmp_path / "keys"
    keys.mkdir()
    assert (
        _run(
            capsys,
            "audit",
            "keygen",
            "--private-key",
            str(keys / "k.pem"),
            "--public-key",
            str(keys / "k.pub"),
        )[0]
        == 0
    )
    export = tmp_path / "export"
    code, out, _ = _run(
        capsys, "audit", "export", "--tenant", "acme", "--out", str(export),
        "--private-key", str(keys / "k.pem"), "--url", url,
    )  # fmt: skip
    assert code == 0 and json.loads(out)["count"] >= 2
    code, out, _ = _run(capsys, "audit", "verify-export", str(export), "--public-key", str(keys / "k.pub"))
    assert code == 0 and json.loads(out)["ok"]

    # SQLite has triggers against UPDATE: drop them as an attacker with file access would
    with engine.begin() as conn:
        for (name,) in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")):
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        conn.execute(sa.text("UPDATE audit_entries SET action = 'nothing.happened' WHERE seq = 2"))
    code, out, err = _run(capsys, "audit", "verify", "--tenant", "acme", "--url", url)
    [result] = json.loads(out)
    assert code == 1 and not result["ok"] and result["first_broken_seq"] == 2
    assert "broken at sequence 2" in err
    engine.dispose()

    code, out, _ = _run(capsys, "retention", "run", "--url", url)
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = _run(capsys, "db", "downgrade", "base", "--url", url)
    assert code == 0 and json.loads(out)["revision"] is None
