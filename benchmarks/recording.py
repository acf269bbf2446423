"""Benchmark: recording decisions into PostgreSQL, and the case queue query over 1,000,000 cases.

    .venv/bin/python benchmarks/recording.py [--url postgresql+psycopg://...] [--cases 1000000]

The URL defaults to VIGIL_BENCH_DATABASE_URL, then VIGIL_TEST_DATABASE_URL (what
``scripts/services.sh`` starts); a fresh database ``vigil_bench`` is created on that
server and dropped at the end. Results are printed and written to
``benchmarks/results/recording.json``.

Measured:
- decisions/s recorded in batches of 1,000 (one transaction per batch) and one by one
  (one transaction each), with a realistic mix: 90% approve, 8% review and 2% block,
  the reviews and blocks opening or joining cases, every call audited;
- the queue page (``case_queries.list_cases``: filters on queue, status, assignee,
  priority; ordered by SLA due; 50 rows) over 1,000,000 cases, p50/p95/p99 per filter shape.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import multiprocessing
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from casework import migrate
from casework.case_queries import UNASSIGNED, CaseFilter, list_cases
from casework.context import Actor, Context
from casework.db import create_engine, transaction
from casework.recording import record_decision, record_decisions
from casework.tenants import create_tenant, create_user
from engine.decision import Decision, Hit, OpenCase, PackRef
from engine.events import Payment

TENANT = "bench"
QUEUES = ["cards", "ato", "fleet", "ecommerce", "aml", "disputes", "merchants", "chargebacks"]
PRIORITIES = ["low", "normal", "high", "urgent"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CLIENT = Actor("client", "bench")


def make_item(n: int, rng: random.Random) -> tuple[Payment, Decision]:
    event_id = f"ev-{n}"
    card = f"card-{rng.randrange(200_000)}"
    event = Payment(
        id=event_id,
        timestamp=T0 + dt.timedelta(milliseconds=n),
        amount=round(rng.uniform(1, 2000), 2),
        currency="EUR",
        card_id=card,
        user_id=f"user-{rng.randrange(100_000)}",
        merchant_id=f"m-{rng.randrange(5000)}",
        ip="203.0.113.7",
        channel="web",
    )
    roll = rng.random()
    if roll < 0.90:
        return event, Decision(
            event_id=event_id, outcome="approve", score=3.0, risk_level="low", pack=PackRef("cards", "1")
        )
    outcome = "review" if roll < 0.98 else "block"
    hit = Hit(
        rule="velocity",
        severity="high",
        score=70.0,
        tags=("velocity",),
        explanation=("5 payments in 10 minutes",),
    )
    effect = OpenCase(
        queue="cards",
        key=card,
        priority="high" if outcome == "block" else "normal",
        rule="velocity",
        severity="high",
    )
    decision = Decision(
        event_id=event_id,
        outcome=outcome,  # type: ignore[arg-type]
        score=70.0,
        risk_level="high",
        hits=(hit,),
        effects=(effect,),
        pack=PackRef("cards", "1"),
    )
    return event, decision


def fresh_database(url: str) -> sa.Engine:
    base = sa.make_url(url)
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS vigil_bench WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE vigil_bench")
    admin.dispose()
    engine = create_engine(base.set(database="vigil_bench").render_as_string(hide_password=False))
    migrate.upgrade(engine)
    with transaction(engine) as session:
        create_tenant(session, Context(TENANT, now=T0), "Benchmark")
    return engine


def drop_database(url: str) -> None:
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS vigil_bench WITH (FORCE)")
    admin.dispose()


def _batch_writer(url: str, writer: int, batches: int, size: int, barrier: Any, results: Any) -> None:
    """One writer process: records its own ``batches`` of ``size`` decisions, one transaction each.

    ``writer`` is unique across every run of the benchmark, so no run re-sends ids an
    earlier one stored (that would measure the idempotent-retry path instead).
    """
    rng = random.Random(writer)
    start = (writer + 1) * 10_000_000
    items = [[make_item(start + b * size + i, rng) for i in range(size)] for b in range(batches)]
    engine = create_engine(url)
    with transaction(engine) as session:  # warm-up: connection, statement caches
        record_decisions(
            session, Context(TENANT, CLIENT), [make_item(start - 1 - i, rng) for i in range(size)]
        )
    # The pre-built input is the benchmark's, not garbage the recorder made: keep the
    # collector from walking it on every pass.
    gc.collect()
    gc.freeze()
    durations = []
    barrier.wait()
    began = time.time()
    for batch in items:
        t = time.perf_counter()
        with transaction(engine) as session:
            record_decisions(session, Context(TENANT, CLIENT), batch)
        durations.append(time.perf_counter() - t)
    results.put((began, time.time(), durations))
    engine.dispose()


_writer_numbers = itertools.count()


def bench_batches(url: str, writers: int, batches: int, size: int) -> dict[str, Any]:
    """``writers`` processes (as API replicas would be) recording batches into one tenant at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    procs = [
        context.Process(
            target=_batch_writer, args=(url, next(_writer_numbers), batches, size, barrier, results)
        )
        for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    began = min(o[0] for o in outcomes)
    ended = max(o[1] for o in outcomes)
    durations = sorted(d for o in outcomes for d in o[2])
    total = writers * batches * size
    return {
        "writers": writers,
        "batches": writers * batches,
        "batch_size": size,
        "decisions": total,
        "seconds": round(ended - began, 3),
        "decisions_per_second": round(total / (ended - began)),
        "batch_ms_p50": round(durations[len(durations) // 2] * 1000, 1),
        "batch_ms_max": round(durations[-1] * 1000, 1),
    }


def bench_retry(engine: sa.Engine, batches: int, size: int, rng: random.Random, start: int) -> dict[str, Any]:
    """A client re-sending batches that were all stored already: every id comes back as a duplicate."""
    items = [[make_item(start + b * size + i, rng) for i in range(size)] for b in range(batches)]
    for batch in items:
        with transaction(engine) as session:
            record_decisions(session, Context(TENANT, CLIENT), batch)
    began = time.perf_counter()
    for batch in items:
        with transaction(engine) as session:
            results = record_decisions(session, Context(TENANT, CLIENT), batch)
        assert all(r.duplicate for r in results)
    total = time.perf_counter() - began
    return {
        "decisions": batches * size,
        "seconds": round(total, 3),
        "decisions_per_second": round(batches * size / total),
    }


def bench_single(engine: sa.Engine, count: int, rng: random.Random, start: int) -> dict[str, Any]:
    items = [make_item(start + i, rng) for i in range(count)]
    durations = []
    began = time.perf_counter()
    for event, decision in items:
        t = time.perf_counter()
        with transaction(engine) as session:
            record_decision(session, Context(TENANT, CLIENT), event, decision)
        durations.append(time.perf_counter() - t)
    total = time.perf_counter() - began
    durations.sort()
    return {
        "decisions": count,
        "seconds": round(total, 3),
        "decisions_per_second": round(count / total),
        "latency_ms_p50": round(durations[len(durations) // 2] * 1000, 2),
        "latency_ms_p99": round(durations[int(len(durations) * 0.99)] * 1000, 2),
    }


FILL_CASES = """
INSERT INTO cases (tenant_id, queue, key, status, disposition, priority, severity, rule, assignee_id,
                   event_count, opened_at, updated_at, sla_due_at, snoozed_until, resolved_at)
SELECT :tenant,
       (ARRAY['cards','ato','fleet','ecommerce','aml','disputes','merchants','chargebacks'])[1 + g % 8],
       'fill-' || g,
       s.status,
       CASE WHEN s.status = 'resolved' THEN 'legitimate' END,
       (ARRAY['low','normal','high','urgent'])[1 + (g / 8) % 4],
       (ARRAY['low','medium','high','critical'])[1 + (g / 32) % 4],
       'velocity',
       CASE WHEN s.status IN ('investigating', 'escalated', 'resolved') THEN (SELECT min(id) FROM users) + (g / 7) % :users END,
       1,
       :t0 + make_interval(secs => g),
       :t0 + make_interval(secs => g),
       :t0 + make_interval(mins => (hashint % 100000)),
       CASE WHEN g % 50 = 0 THEN :t0 + interval '400 days' END,
       CASE WHEN s.status = 'resolved' THEN :t0 + make_interval(secs => g) END
FROM generate_series(:first, :last) AS g,
     LATERAL (SELECT abs(hashint4(g)) AS hashint) h,
     LATERAL (SELECT CASE WHEN hashint % 100 < 60 THEN 'resolved'
                          WHEN hashint % 100 < 80 THEN 'open'
                          WHEN hashint % 100 < 95 THEN 'investigating'
                          ELSE 'escalated' END AS status) s
"""


def fill_cases(engine: sa.Engine, total: int, users: int) -> dict[str, Any]:
    with transaction(engine) as session:
        ctx = Context(TENANT, now=T0)
        for u in range(users):
            create_user(session, ctx, f"investigator-{u}", ["investigator"])
    began = time.perf_counter()
    step = 200_000
    for first in range(1, total + 1, step):
        last = min(first + step - 1, total)
        with engine.begin() as conn:
            conn.execute(
                sa.text(FILL_CASES),
                {"tenant": TENANT, "users": users, "t0": T0, "first": first, "last": last},
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE cases")
        count = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
        user_ids = list(conn.execute(sa.text("SELECT id FROM users ORDER BY id")).scalars())
    return {"cases": count, "seconds": round(time.perf_counter() - began, 1), "users": user_ids}


def bench_queue(engine: sa.Engine, user_ids: list[int], rng: random.Random, runs: int) -> dict[str, Any]:
    shapes: dict[str, Any] = {
        "queue + status": lambda: CaseFilter(queue=rng.choice(QUEUES), statuses=("open",)),
        "queue + all active statuses": lambda: CaseFilter(queue=rng.choice(QUEUES)),
        "queue + status + priority": lambda: CaseFilter(
            queue=rng.choice(QUEUES),
            statuses=(rng.choice(["open", "investigating"]),),
            priority=rng.choice(PRIORITIES),
        ),
        "assignee + status": lambda: CaseFilter(assignee=rng.choice(user_ids), statuses=("investigating",)),
        "queue + status + assignee + priority": lambda: CaseFilter(
            queue=rng.choice(QUEUES),
            statuses=("investigating",),
            assignee=rng.choice(user_ids),
            priority=rng.choice(PRIORITIES),
        ),
        "queue + unassigned": lambda: CaseFilter(queue=rng.choice(QUEUES), assignee=UNASSIGNED),
    }
    now = T0 + dt.timedelta(days=1)
    results: dict[str, Any] = {}
    every: list[float] = []
    with transaction(engine) as session:
        for name, make in shapes.items():
            for _ in range(10):  # warm the buffer cache and the statement cache
                list_cases(session, TENANT, make(), now=now)
            samples = []
            rows = 0
            for _ in range(runs):
                filters = make()
                t = time.perf_counter()
                page = list_cases(session, TENANT, filters, now=now, limit=50)
                samples.append((time.perf_counter() - t) * 1000)
                rows += len(page.items)
            samples.sort()
            every += samples
            results[name] = {
                "p50_ms": round(samples[len(samples) // 2], 2),
                "p95_ms": round(samples[int(len(samples) * 0.95)], 2),
                "p99_ms": round(samples[int(len(samples) * 0.99)], 2),
                "avg_rows": round(rows / runs, 1),
            }
    every.sort()
    results["all shapes"] = {
        "p50_ms": round(every[len(every) // 2], 2),
        "p95_ms": round(every[int(len(every) * 0.95)], 2),
        "p99_ms": round(every[int(len(every) * 0.99)], 2),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("VIGIL_BENCH_DATABASE_URL") or os.environ.get("VIGIL_TEST_DATABASE_URL"),
    )
    parser.add_argument("--batches", type=int, default=30, help="batches per writer")
    parser.add_argument(
        "--writers", type=int, nargs="+", default=[1, 2, 4], help="writer processes, one run each"
    )
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per writer count (the machine may be shared)"
    )
    parser.add_argument("--single", type=int, default=3000)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--query-runs", type=int, default=300)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "recording.json"
    )
    args = parser.parse_args()
    if not args.url or not args.url.startswith("postgresql"):
        parser.error(
            "needs a PostgreSQL URL (--url, VIGIL_BENCH_DATABASE_URL or VIGIL_TEST_DATABASE_URL); run scripts/services.sh"
        )
    rng = random.Random(42)
    # other work on the machine skews every figure: say how busy it was
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    engine = fresh_database(args.url)
    try:
        with engine.connect() as conn:
            settings = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            }
        print(f"PostgreSQL {settings}", flush=True)
        url = engine.url.render_as_string(hide_password=False)
        batches = []
        for writers in args.writers:
            runs = []
            for _ in range(args.repeat):
                runs.append(bench_batches(url, writers, args.batches, args.batch_size))
                print(f"batches: {runs[-1]}", flush=True)
            rates = sorted(r["decisions_per_second"] for r in runs)
            batches.append(
                {
                    "writers": writers,
                    "runs": runs,
                    "median_per_second": rates[len(rates) // 2],
                    "best_per_second": rates[-1],
                }
            )
        # below every writer's range ((n + 1) * 10,000,000 up)
        single = bench_single(engine, args.single, rng, start=5_000_000)
        print(f"one by one: {single}", flush=True)
        retry = bench_retry(engine, 10, args.batch_size, rng, start=6_000_000)
        print(f"retried batches (all duplicates): {retry}", flush=True)
        filled = fill_cases(engine, args.cases, users=50)
        print(f"filled {filled['cases']} cases in {filled['seconds']} s", flush=True)
        queue = bench_queue(engine, filled.pop("users"), rng, args.query_runs)
        for name, figures in queue.items():
            print(f"queue page [{name}]: {figures}", flush=True)
    finally:
        engine.dispose()
        drop_database(args.url)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
        },
        "postgresql": settings,
        "record_in_batches": batches,
        "record_one_by_one": single,
        "retry_batches": retry,
        "case_fill": filled,
        "queue_page": queue,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
