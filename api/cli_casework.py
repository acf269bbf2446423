"""``vigil db``, ``vigil audit`` and ``vigil retention``: the store, the audit trail and retention.

Each command calls one function of ``casework.commands`` and prints its result as JSON,
so compliance scripts can read it; verification failures exit 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def _print(value: Any) -> None:
    sys.stdout.write(_encoder.encode(value).decode() + "\n")


def _time(text: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from casework.commands import db_upgrade

    _print({"revision": db_upgrade(args.url, args.revision)})
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from casework.commands import db_downgrade

    _print({"revision": db_downgrade(args.url, args.revision)})
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from casework.commands import audit_verify

    results = audit_verify(args.url, args.tenant)
    _print(results)
    for result in results:
        if not result.ok:
            print(
                f"audit chain of tenant {result.tenant} is broken at sequence {result.first_broken_seq}: "
                f"{result.problem}",
                file=sys.stderr,
            )
    return 0 if all(r.ok for r in results) else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from casework.commands import audit_export

    manifest = audit_export(
        args.url, args.tenant, args.start, args.end, args.format, args.out, args.private_key
    )
    _print(manifest)
    return 0


def cmd_audit_verify_export(args: argparse.Namespace) -> int:
    from casework.commands import audit_verify_export

    check = audit_verify_export(args.directory, args.public_key)
    _print(check)
    if not check.ok:
        print(f"export does not verify: {check.problem}", file=sys.stderr)
    return 0 if check.ok else 1


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from casework.commands import audit_keygen

    _print({"key_id": audit_keygen(args.private_key, args.public_key)})
    return 0


def cmd_retention_run(args: argparse.Namespace) -> int:
    from casework.commands import retention_run

    _print(retention_run(args.url, args.now))
    return 0


def add_commands(sub: Any) -> None:
    """Register the casework commands on the ``vigil`` sub-command parser."""
    url_help = "database URL (default: VIGIL_DATABASE_URL, else the embedded SQLite file)"

    db = sub.add_parser("db", help="the store's schema: upgrade, downgrade").add_subparsers(
        dest="db", required=True
    )
    p = db.add_parser("upgrade", help="migrate the schema up (default: to the newest revision)")
    p.add_argument("--url", help=url_help)
    p.add_argument("--revision", default="head")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("downgrade", help="migrate the schema down to a revision ('base' drops everything)")
    p.add_argument("revision")
    p.add_argument("--url", help=url_help)
    p.set_defaults(func=cmd_db_downgrade)

    audit = sub.add_parser("audit", help="the tamper-evident audit trail").add_subparsers(
        dest="audit", required=True
    )
    p = audit.add_parser("verify", help="walk the hash chain; report the first broken entry")
    p.add_argument("--tenant", help="one tenant (default: every tenant)")
    p.add_argument("--url", help=url_help)
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("export", help="write entries and an Ed25519-signed manifest")
    p.add_argument("--tenant", required=True)
    p.add_argument("--from", dest="start", type=_time)
    p.add_argument("--to", dest="end", type=_time)
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--out", type=Path, required=True, help="folder to write into")
    p.add_argument("--private-key", type=Path, required=True, help="Ed25519 private key (PEM)")
    p.add_argument("--url", help=url_help)
    p.set_defaults(func=cmd_audit_export)
    p = audit.add_parser("verify-export", help="check an export offline with the public key")
    p.add_argument("directory", type=Path)
    p.add_argument("--public-key", type=Path, required=True)
    p.set_defaults(func=cmd_audit_verify_export)
    p = audit.add_parser("keygen", help="create an Ed25519 key pair for signing exports")
    p.add_argument("--private-key", type=Path, required=True)
    p.add_argument("--public-key", type=Path, required=True)
    p.set_defaults(func=cmd_audit_keygen)

    retention = sub.add_parser("retention", help="purge events past each tenant's retention period")
    rsub = retention.add_subparsers(dest="retention", required=True)
    p = rsub.add_parser("run", help="purge now (the purge itself is audited)")
    p.add_argument("--now", type=_time, help="pretend it is this time (default: now)")
    p.add_argument("--url", help=url_help)
    p.set_defaults(func=cmd_retention_run)
