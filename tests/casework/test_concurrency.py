"""Concurrent writers on PostgreSQL: one open case per key, and a gap-free, fork-free audit chain."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from casework_factories import decision, open_case, payment
from sqlalchemy.engine import Engine

from casework import audit
from casework.context import Actor, Context
from casework.db import transaction
from casework.models import AuditEntry, Case, CaseEvent
from casework.recording import record_decision, record_decisions
from casework.tenants import create_tenant

WRITERS = 8


def run_concurrently(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` for i in 0..WRITERS-1 on threads released together; re-raise any failure."""
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def _setup(engine: Engine) -> None:
    with transaction(engine) as session:
        create_tenant(session, Context("acme"), "Acme")


def test_one_open_case_per_key_under_concurrent_writers(pg_engine: Engine) -> None:
    _setup(pg_engine)
    keys = [f"card-{k}" for k in range(3)]

    def work(i: int) -> None:
        for n in range(12):
            key = keys[(i + n) % len(keys)]
            eid = f"w{i}-{n}"
            with transaction(pg_engine) as session:
                record_decision(
                    session,
                    Context("acme", Actor("client", f"c{i}")),
                    payment(eid, key),
                    decision(eid, case=open_case(key)),
                )

    run_concurrently(work)
    with pg_engine.connect() as conn:
        cases = conn.execute(sa.select(Case.key, Case.event_count).where(Case.status != "resolved")).all()
        linked = conn.execute(sa.select(sa.func.count()).select_from(CaseEvent)).scalar_one()
    assert sorted(k for k, _ in cases) == keys
    assert sum(n for _, n in cases) == WRITERS * 12 == linked


def test_overlapping_batches_do_not_deadlock_or_duplicate(pg_engine: Engine) -> None:
    _setup(pg_engine)

    def work(i: int) -> None:
        # every writer touches every key, in a different order, in one transaction
        keys = [f"card-{(i * 5 + k) % 10}" for k in range(10)]
        items = [
            (payment(f"b{i}-{k}", key), decision(f"b{i}-{k}", case=open_case(key)))
            for k, key in enumerate(keys)
        ]
        # and all of them send the same five ids, as retries racing each other would
        items += [
            (payment(f"shared-{k}", "card-0"), decision(f"shared-{k}", case=open_case("card-0")))
            for k in range(5)
        ]
        with transaction(pg_engine) as session:
            record_decisions(session, Context("acme"), items)

    run_concurrently(work)
    with pg_engine.connect() as conn:
        open_keys = conn.execute(sa.select(Case.key).where(Case.status != "resolved")).scalars().all()
        total = conn.execute(sa.select(sa.func.sum(Case.event_count))).scalar_one()
    assert sorted(open_keys) == sorted(f"card-{k}" for k in range(10))
    assert total == WRITERS * 10 + 5


def test_audit_sequence_has_no_gap_or_fork(pg_engine: Engine) -> None:
    _setup(pg_engine)

    def work(i: int) -> None:
        for n in range(15):
            with transaction(pg_engine) as session:
                audit.record(
                    session,
                    Context("acme", Actor("user", str(i))),
                    "case.noted",
                    "case",
                    str(n),
                    {"n": [None, n]},
                )

    run_concurrently(work)
    with pg_engine.connect() as conn:
        seqs = conn.execute(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
        prevs = conn.execute(sa.select(AuditEntry.prev_hash)).scalars().all()
    assert seqs == list(range(1, WRITERS * 15 + 2))
    assert len(set(prevs)) == len(prevs), "two entries claim the same predecessor: the chain forked"
    with transaction(pg_engine) as session:
        assert audit.verify(session, "acme").ok
