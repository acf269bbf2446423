"""The ``vigil`` command line: check, format, test, compile and score rulepacks; simulate streams."""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from api.cli_casework import add_commands as add_casework_commands
from api.cli_worker import add_commands as add_worker_commands
from dsl.diagnostics import Diagnostic, Source, render_all
from dsl.formatter import format_pack
from dsl.parser import ParseFailure, parse
from engine.engine import Engine
from engine.events import EventError, decode_event
from engine.pack import CompiledPack, PackError, load_pack
from engine.testing import run_tests

RULEPACKS = Path(__file__).resolve().parent.parent / "rulepacks"
_encoder = msgspec.json.Encoder()


def _pack_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(path.glob("*.rules")))
        else:
            files.append(path)
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: error: cannot read: {exc.strerror}", file=sys.stderr)
        return None


def _diagnostics(path: Path, text: str) -> tuple[CompiledPack | None, list[Diagnostic]]:
    try:
        pack = load_pack(text, str(path))
    except PackError as exc:
        return None, exc.diagnostics
    return pack, pack.diagnostics


def cmd_check(args: argparse.Namespace) -> int:
    failed = False
    everything: list[Diagnostic] = []
    for path in _pack_files(args.paths):
        text = _read(path)
        if text is None:
            failed = True
            continue
        _, diags = _diagnostics(path, text)
        everything.extend(diags)
        if any(d.severity == "error" or args.strict for d in diags):
            failed = True
        if args.format == "text" and diags:
            print(render_all(diags, Source(str(path), text)), file=sys.stderr)
        elif args.format == "text":
            print(f"{path}: ok")
    if args.format == "json":
        sys.stdout.write(_encoder.encode(everything).decode() + "\n")
    return 1 if failed else 0


def cmd_fmt(args: argparse.Namespace) -> int:
    status = 0
    for path in _pack_files(args.paths):
        text = _read(path)
        if text is None:
            status = 1
            continue
        try:
            formatted = format_pack(parse(text, str(path)), text)
        except ParseFailure as exc:
            print(render_all(exc.diagnostics, Source(str(path), text)), file=sys.stderr)
            status = 1
            continue
        if formatted == text:
            continue
        if args.check:
            print(f"{path}: would reformat", file=sys.stderr)
            status = 1
        else:
            path.write_text(formatted, encoding="utf-8")
            print(f"{path}: reformatted")
    return status


def cmd_test(args: argparse.Namespace) -> int:
    passed = failed = 0
    for path in _pack_files(args.paths):
        text = _read(path)
        if text is None:
            failed += 1
            continue
        pack, diags = _diagnostics(path, text)
        if pack is None:
            # a pack that does not check counts as one failure: none of its tests can run
            print(render_all(diags, Source(str(path), text)), file=sys.stderr)
            print(f"{path}: FAILED: the pack does not check; no test ran")
            failed += 1
            continue
        for result in run_tests(pack):
            got = result.decision
            summary = (
                f"{got.outcome}, score {got.score:g}, hits {', '.join(h.rule for h in got.hits) or 'none'}"
                if got
                else "no decision"
            )
            mark = "passed" if result.passed else "FAILED"
            print(f"{path}:{result.line}: {mark}: {result.name} ({summary})")
            for failure in result.failures:
                print(f"    {failure}")
            if result.passed:
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_compile(args: argparse.Namespace) -> int:
    path = Path(args.path)
    text = _read(path)
    if text is None:
        return 1
    pack, diags = _diagnostics(path, text)
    if pack is None:
        print(render_all(diags, Source(str(path), text)), file=sys.stderr)
        return 1
    if args.show:
        print(pack.generated.code)
    else:
        print(f"{path}: compiled {len(pack.checked.rules)} rules for {', '.join(pack.kinds)}")
    return 0


def _load_packs(paths: Sequence[str]) -> list[CompiledPack] | None:
    packs: list[CompiledPack] = []
    for path in _pack_files(paths):
        text = _read(path)
        if text is None:
            return None
        pack, diags = _diagnostics(path, text)
        if pack is None:
            print(render_all(diags, Source(str(path), text)), file=sys.stderr)
            return None
        packs.append(pack)
    return packs


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, 1):
        if line.strip():
            yield number, line


def cmd_score(args: argparse.Namespace) -> int:
    packs = _load_packs(args.pack)
    if packs is None:
        return 1
    engine = Engine(packs)
    source = open(args.events, "rb") if args.events != "-" else sys.stdin.buffer  # noqa: SIM115
    out = sys.stdout.buffer
    bad = 0
    try:
        for number, line in _lines(source):
            try:
                event = decode_event(line)
            except EventError as exc:
                bad += 1
                error = {"line": number, "error": str(exc)}
                out.write(_encoder.encode(error) + b"\n")
                continue
            out.write(_encoder.encode(engine.evaluate(event)) + b"\n")
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    out.flush()
    return 1 if bad else 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rebuild detector state from an event log in event-time order; one decision per line."""
    from engine.replay import replay

    packs = _load_packs(args.pack)
    if packs is None:
        return 1
    events = []
    try:
        source = open(args.events, "rb") if args.events != "-" else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        print(f"vigil replay: error: cannot read {args.events}: {exc.strerror}", file=sys.stderr)
        return 1
    with source:
        for number, line in _lines(source):
            try:
                events.append(decode_event(line))
            except EventError as exc:
                print(f"{args.events}:{number}: error: {exc}", file=sys.stderr)
                return 1
    lines = b"".join(_encoder.encode(decision) + b"\n" for decision in replay(packs, events))
    if args.out == "-":
        sys.stdout.buffer.write(lines)
        sys.stdout.buffer.flush()
    else:
        Path(args.out).write_bytes(lines)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.simulate import simulate, write_jsonl

    try:
        events = simulate(args.kind, args.n, args.seed)
        if args.out == "-":
            write_jsonl(events, sys.stdout.buffer)
        else:
            with open(args.out, "wb") as fh:
                write_jsonl(events, fh)
    except ValueError as exc:
        print(f"vigil simulate: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Score simulated streams through the shipped packs and print a summary."""
    from engine.simulate import simulate

    packs = _load_packs([str(RULEPACKS)])
    if packs is None:
        return 1
    streams = {"payment": args.n, "fleet": max(1, args.n // 4), "ato": max(1, args.n // 4)}
    print(f"Vigil demo: {len(packs)} packs from {RULEPACKS}")
    for kind, n in streams.items():
        events = list(simulate(kind, n, args.seed))
        engine = Engine([p for p in packs if set(p.kinds) & {_kind(e) for e in events[:50]}] or packs)
        started = time.perf_counter()
        decisions = engine.evaluate_many(events)
        elapsed = time.perf_counter() - started
        outcomes = collections.Counter(d.outcome for d in decisions)
        rules = collections.Counter(h.rule for d in decisions for h in d.hits)
        fraud = sum(1 for e in events if e.attributes.get("is_fraud"))
        caught = sum(
            1
            for e, d in zip(events, decisions, strict=True)
            if e.attributes.get("is_fraud") and d.outcome != "approve"
        )
        print(f"\n{kind}: {len(events):,} events in {elapsed:.2f} s ({len(events) / elapsed:,.0f} events/s)")
        print("  outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))
        print(f"  labelled fraud reviewed or blocked: {caught:,} of {fraud:,}")
        for rule, count in rules.most_common(5):
            print(f"  {count:>8,}  {rule}")
    return 0


MODELS_DIR = Path("var") / "models"


def _read_labels(path: str) -> dict[str, tuple[bool, float]] | None:
    """A labels file: JSON lines ``{"event_id", "fraud", "known_at"}`` -> event id -> (fraud, known_at)."""
    from engine.runtime import epoch

    decoder = msgspec.json.Decoder(dict[str, object])
    labels: dict[str, tuple[bool, float]] = {}
    with open(path, "rb") as source:
        for number, line in _lines(source):
            try:
                item = decoder.decode(line)
                event_id, fraud = item["event_id"], item["fraud"]
                known = item.get("known_at")
                if not isinstance(event_id, str) or not isinstance(fraud, bool):
                    raise ValueError("event_id must be a string and fraud a boolean")
                labels[event_id] = (fraud, epoch(known) if known is not None else float("-inf"))
            except (msgspec.DecodeError, KeyError, ValueError, TypeError) as exc:
                print(f"{path}:{number}: error: bad label: {exc}", file=sys.stderr)
                return None
    return labels


def _seconds(text: str) -> float | None:
    """``7d``, ``12h``, ``30m``, ``45s`` or ``0`` in seconds; None if not a duration."""
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw]?)", text.strip())
    if match is None:
        return None
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit


def cmd_train(args: argparse.Namespace) -> int:
    """Build a pack model's features over time-ordered events, fit, measure, save and activate."""
    import numpy as np

    from engine.events import kind_of
    from engine.models import ModelError, ModelStore, train

    packs = _load_packs([args.pack])
    if packs is None:
        return 1
    pack = packs[0]
    spec = pack.models.get(args.model)
    if spec is None:
        known = ", ".join(sorted(pack.models)) or "none"
        print(
            f"vigil train: error: {args.pack} declares no model {args.model!r} (models: {known})",
            file=sys.stderr,
        )
        return 1
    events = []
    with open(args.events, "rb") if args.events != "-" else sys.stdin.buffer as source:
        for number, line in _lines(source):
            try:
                events.append(decode_event(line))
            except EventError as exc:
                print(f"{args.events}:{number}: error: {exc}", file=sys.stderr)
                return 1
    events.sort(key=lambda e: e.timestamp)  # stable: same-instant events keep their order
    labels = _read_labels(args.labels) if args.labels else None
    if args.labels and labels is None:
        return 1
    engine = Engine([pack])
    if labels is None:
        # labels from the events, each known --label-delay after its event, as a label API would
        # deliver them: entity_risk and hotspot features count only those known by then
        delay = _seconds(args.label_delay)
        if delay is None:
            print(
                f"vigil train: error: bad --label-delay {args.label_delay!r} (e.g. 7d, 12h)", file=sys.stderr
            )
            return 2
        labels = {
            e.id: (True, e.timestamp.timestamp() + delay) for e in events if e.attributes.get("is_fraud")
        }
    # every label, known from its own time: the detectors only count those known by each event
    for event_id, (fraud, known_at) in labels.items():
        engine.context.set_label(event_id, fraud, known_at)
    y = np.array([labels.get(e.id, (False, 0.0))[0] for e in events])
    decided = [e for e in events if kind_of(e) in pack.kinds]
    X = engine.features(args.model, events)
    rows = np.array([i for i, e in enumerate(events) if kind_of(e) in pack.kinds], dtype=np.int64)
    times = np.array([e.timestamp.timestamp() for e in decided])
    cards = np.array([str(getattr(e, "card_id", None) or getattr(e, "user_id", None) or "") for e in decided])
    try:
        model = train(
            spec.kind,
            X[rows],
            y[rows] if spec.kind == "classifier" or y.any() else None,
            times,
            cards=cards,
            feature_names=spec.feature_names,
            feature_hash=spec.feature_hash,
            pack=pack.name,
            pack_version=pack.version,
        )
        version = ModelStore(args.out).save(args.model, model)
    except ModelError as exc:
        print(f"vigil train: error: {exc}", file=sys.stderr)
        return 1
    report = {
        "model": args.model,
        "version": version,
        "active": True,
        "dir": str(args.out),
        **model.metadata(),
    }
    sys.stdout.write(_encoder.encode(report).decode() + "\n")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from engine.models import ModelStore

    store = ModelStore(args.dir)
    names = store.names()
    if not names:
        print(f"no models in {args.dir}")
    for name in names:
        active = store.active(name)
        for version in store.versions(name):
            meta = store.metadata(name, version)
            m = meta.get("metrics", {})
            figures = ", ".join(
                f"{key} {m[key]:.3f}"
                for key in ("auc_roc", "average_precision", "card_precision_at_100")
                if isinstance(m.get(key), float)
            )
            mark = "*" if version == active else " "
            print(
                f"{mark} {name} {version}  {meta.get('kind')}  pack {meta.get('pack')} {meta.get('pack_version')}"
                f"  trained {meta.get('created_at')}  {figures}"
            )
    return 0


def _describe_ref(table: str, record: dict[str, object]) -> str:
    if table == "vehicles":
        return f"{record['id']}: tank {record['tank_liters']:g} l"
    numbers = record["days"]
    assert isinstance(numbers, list)
    days = ",".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[d] for d in numbers)
    return f"{record['id']}: {days} {record['start']}-{record['end']} {record['tz']}"


def cmd_ref_load(args: argparse.Namespace) -> int:
    """Validate a reference file and load it into an engine; report what it holds.

    There is no server to keep the records yet: this checks the file and shows what
    an engine would read from it.
    """
    from engine.refdata import RefDataError, load_file

    try:
        records = load_file(Engine([]), args.table, args.file)
    except RefDataError as exc:
        print(f"vigil ref load: error: {exc}", file=sys.stderr)
        return 1
    noun = args.table if len(records) != 1 else args.table.rstrip("s")
    print(f"{args.file}: {len(records)} {noun}, all valid (checked only: nothing is stored yet)")
    for record in records:
        print(f"  {_describe_ref(args.table, record)}")
    return 0


def cmd_clients_create(args: argparse.Namespace) -> int:
    """Create an API client and print its credentials once: the secret is stored only hashed."""
    from api.bootstrap import create_client_command
    from casework.errors import CaseworkError

    try:
        creds = create_client_command(args.url, args.tenant, args.role, args.description)
    except CaseworkError as exc:
        print(f"vigil clients create: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(
        _encoder.encode({"client_id": creds.client_id, "client_secret": creds.client_secret}).decode()
    )
    sys.stdout.write("\n")
    print("keep the secret now: it is stored only as a hash and is never shown again", file=sys.stderr)
    return 0


def cmd_tenants_create(args: argparse.Namespace) -> int:
    from api.bootstrap import create_tenant_command
    from casework.errors import CaseworkError

    try:
        created = create_tenant_command(args.url, args.tenant, args.name or args.tenant)
    except CaseworkError as exc:
        print(f"vigil tenants create: error: {exc}", file=sys.stderr)
        return 1
    print(f"tenant {args.tenant}: {'created' if created else 'exists already'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API with uvicorn; ``--demo`` first sets up the embedded store and a demo tenant."""
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_env()
    if args.demo:
        _print_demo(settings, args.host, args.port)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _print_demo(settings: object, host: str, port: int) -> None:
    from api.bootstrap import ensure_demo
    from api.settings import Settings
    from casework.settings import PROJECT_ROOT

    assert isinstance(settings, Settings)
    demo = ensure_demo(
        settings.database.url, settings.engine.demo_tenant, PROJECT_ROOT / "var" / "demo-client.json"
    )
    base = f"http://{'localhost' if host in ('0.0.0.0', '127.0.0.1') else host}:{port}"
    creds = demo.integrator
    print(
        f"""
Vigil API on {base}  (store: {settings.database.url})
Tenant {demo.tenant!r}, scored with the shipped rulepacks until it publishes its own.

Integrator client (kept in var/demo-client.json):
  client_id:     {creds.client_id}
  client_secret: {creds.client_secret}

Get a token:
  TOKEN=$(curl -s -u '{creds.client_id}:{creds.client_secret}' -d grant_type=client_credentials \\
      {base}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

Send a first event:
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' {base}/v1/events \\
      -d '{{"kind": "payment", "id": "evt-1", "timestamp": "2026-11-25T10:00:00Z", "amount": 950, "currency": "EUR", "card_id": "card-42", "user_id": "u-7", "merchant_id": "m-1"}}'

API docs: {base}/schema   health: {base}/health   metrics: {base}/metrics
""",
        flush=True,
    )


def _kind(event: object) -> str:
    from engine.events import kind_of

    return kind_of(event)  # type: ignore[arg-type]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="vigil", description="Vigil: fraud rules, decisions and cases.")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="check rulepacks and report every problem")
    p.add_argument("paths", nargs="+", help="rulepack files or folders")
    p.add_argument("--strict", action="store_true", help="warnings fail the check too")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", help="rewrite rulepacks in the canonical layout")
    p.add_argument("paths", nargs="+")
    p.add_argument("--check", action="store_true", help="only report files that would change")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("test", help="run the inline tests of rulepacks")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("compile", help="compile a rulepack")
    p.add_argument("path")
    p.add_argument("--show", action="store_true", help="print the generated Python")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("score", help="score JSON-lines events: one decision per line")
    p.add_argument("--pack", action="append", required=True, help="rulepack file (repeatable)")
    p.add_argument("--events", default="-", help="JSON-lines file (default: stdin)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("replay", help="rebuild detector state from an event log in event-time order")
    p.add_argument("--pack", action="append", required=True, help="rulepack file (repeatable)")
    p.add_argument("--events", required=True, help="JSON-lines event log (- for stdin)")
    p.add_argument("--out", default="-", help="decisions as JSON lines (default: stdout)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("simulate", help="write a labelled simulated event stream as JSON lines")
    p.add_argument(
        "--kind",
        default="payment",
        help="payment, fuel_purchase, vehicle_position, login, session_activity, fleet or ato",
    )
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="-")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("ref", help="reference data the detectors read: vehicles, working schedules")
    ref = p.add_subparsers(dest="ref_command", required=True)
    p = ref.add_parser("load", help="validate a JSON, JSON Lines or CSV file of reference records")
    p.add_argument("--table", required=True, choices=("schedules", "vehicles"))
    p.add_argument("file")
    p.set_defaults(func=cmd_ref_load)

    p = sub.add_parser("demo", help="score simulated streams through the shipped packs (make run)")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a pack's model on JSON-lines events, save it and make it active")
    p.add_argument("pack", help="rulepack file declaring the model")
    p.add_argument("model", help="the model's name in the pack")
    p.add_argument("--events", required=True, help="JSON-lines events (as vigil simulate writes)")
    p.add_argument(
        "--labels",
        default=None,
        help='JSON lines {"event_id", "fraud", "known_at"} (default: each event\'s attributes.is_fraud)',
    )
    p.add_argument(
        "--label-delay",
        default="7d",
        help="without --labels: when an event's is_fraud label becomes known, after the event (default 7d)",
    )
    p.add_argument("--out", default=str(MODELS_DIR), help=f"model folder (default: {MODELS_DIR})")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="trained model versions")
    models_sub = p.add_subparsers(dest="models_command", required=True)
    p = models_sub.add_parser("list", help="every saved version; * marks the active one")
    p.add_argument("--dir", default=str(MODELS_DIR), help=f"model folder (default: {MODELS_DIR})")
    p.set_defaults(func=cmd_models_list)

    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--demo",
        action="store_true",
        help="migrate the store, create the demo tenant and client, print a curl",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("clients", help="API clients (OAuth2 client credentials)")
    clients_sub = p.add_subparsers(dest="clients_command", required=True)
    p = clients_sub.add_parser("create", help="create a client; prints its id and secret once")
    p.add_argument("--tenant", required=True)
    p.add_argument("--role", required=True, help="integrator, analyst, investigator, compliance or admin")
    p.add_argument("--description", default="")
    p.add_argument("--url", default=None, help="database URL (default: VIGIL_DATABASE_URL or var/ SQLite)")
    p.set_defaults(func=cmd_clients_create)

    p = sub.add_parser("tenants", help="tenants")
    tenants_sub = p.add_subparsers(dest="tenants_command", required=True)
    p = tenants_sub.add_parser("create", help="create a tenant (no-op when it exists)")
    p.add_argument("tenant")
    p.add_argument("--name", default="")
    p.add_argument("--url", default=None, help="database URL (default: VIGIL_DATABASE_URL or var/ SQLite)")
    p.set_defaults(func=cmd_tenants_create)
    add_casework_commands(sub)
    add_worker_commands(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
