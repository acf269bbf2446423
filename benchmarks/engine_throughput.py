"""Throughput of Vigil's engine on the simulator's payment stream through the cards pack.

One process, one core. The stream is ``engine.simulate.simulate("payment", N, seed)``
(default 100,000 events, seed 7); the pack is ``rulepacks/cards.rules`` with its
windowed detectors (``velocity``, ``sum_amount``, ``distinct``). If that file is
missing or does not load, ``../shared/dsl/examples/cards.rules`` is used instead and
the output says so. Each measurement runs on a fresh ``Engine`` (empty detector
state), is repeated ``--reps`` times (default 3), and the median is reported:

* ``evaluate``: ``Engine.evaluate(event)``, one event per call;
* ``evaluate_many``: in batches of 1,000 events and over the whole stream in one call;
* ingest: JSON lines bytes decoded into the event Structs (``engine.events.decode_event``
  per line, or one ``msgspec.json.Decoder(Event).decode_lines`` call) and then evaluated
  with ``evaluate_many``, and the decoding alone;
* memory: the detector state left by the whole stream (entities per state family and
  approximate bytes per tracked entity, measured with ``tracemalloc``);
* Redis (when ``--redis URL``, ``VIGIL_REDIS_URL`` or ``VIGIL_TEST_REDIS_URL`` names a
  server that answers): ``evaluate_many`` in batches on ``engine.state_redis.RedisStore``
  (state loaded and written back once per batch), each repetition on a fresh tenant, and
  the keys and server memory the stream's state takes there.

Building the inputs (simulating, encoding to JSON lines) is not timed. The event list
is ``gc.freeze()``-d before timing so that collections do not rescan it. The script
prints figures; it never asserts timings. Usage::

    .venv/bin/python benchmarks/engine_throughput.py            # 100,000 events, < 60 s
    .venv/bin/python benchmarks/engine_throughput.py --n 20000 --reps 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import os
import platform
import statistics
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from engine.decision import Decision
from engine.engine import Engine
from engine.events import Event, decode_event
from engine.pack import CompiledPack, PackError, load_pack_file
from engine.simulate import simulate, write_jsonl
from engine.state_redis import RedisStore

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "rulepacks" / "cards.rules"
FALLBACK_PACK = ROOT.parent / "shared" / "dsl" / "examples" / "cards.rules"


@dataclass
class Row:
    """One measured way of driving the engine."""

    label: str
    events: int
    walls: list[float]
    cpus: list[float]
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    def line(self) -> str:
        rate = self.events / self.wall
        us = self.wall / self.events * 1e6
        best = min(self.walls) / self.events * 1e6
        cpu_us = statistics.median(self.cpus) / self.events * 1e6
        return f"| {self.label} | {self.events:,} | {rate:,.0f} | {us:.2f} | {best:.2f} | {cpu_us:.2f} | {self.note} |"


def machine() -> str:
    """CPU model, usable cores, Python version, platform and the time of the run."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        f"{cpu}, {cores} usable cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load} (1/5/15 min), {now}"
    )


def load_cards(primary: Path = PACK, fallback: Path = FALLBACK_PACK) -> tuple[CompiledPack, Path, str]:
    """The cards pack, from ``rulepacks/`` or, failing that, from the shared examples."""
    try:
        return load_pack_file(primary), primary, ""
    except (OSError, PackError) as exc:
        reason = "is missing" if isinstance(exc, OSError) else "does not load"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        note = f"NOTE: {primary} {reason} ({first}); using {fallback} instead"
        return load_pack_file(fallback), fallback, note


def timed(
    make: Callable[[], Engine], run: Callable[[Engine], list[Decision]], reps: int
) -> tuple[list[float], list[float], list[Decision]]:
    """Wall and CPU seconds of ``run`` on a fresh engine, ``reps`` times; the last run's decisions."""
    walls: list[float] = []
    cpus: list[float] = []
    decisions: list[Decision] = []
    for _ in range(reps):
        engine = make()
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        decisions = run(engine)
        t1, c1 = time.perf_counter(), time.process_time()
        walls.append(t1 - t0)
        cpus.append(c1 - c0)
    return walls, cpus, decisions


def one_by_one(events: Sequence[Event]) -> Callable[[Engine], list[Decision]]:
    def run(engine: Engine) -> list[Decision]:
        evaluate = engine.evaluate
        return [evaluate(e) for e in events]

    return run


def batched(events: Sequence[Event], size: int) -> Callable[[Engine], list[Decision]]:
    def run(engine: Engine) -> list[Decision]:
        out: list[Decision] = []
        for i in range(0, len(events), size):
            out.extend(engine.evaluate_many(events[i : i + size]))
        return out

    return run


def from_lines(lines: list[bytes]) -> Callable[[Engine], list[Decision]]:
    def run(engine: Engine) -> list[Decision]:
        return engine.evaluate_many([decode_event(line) for line in lines])

    return run


def from_buffer(data: bytes) -> Callable[[Engine], list[Decision]]:
    decoder = msgspec.json.Decoder(Event)

    def run(engine: Engine) -> list[Decision]:
        return engine.evaluate_many(decoder.decode_lines(data))

    return run


def summary(decisions: Sequence[Decision]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Decisions by outcome, hits by rule and shadow hits by rule."""
    outcomes: Counter[str] = Counter(d.outcome for d in decisions)
    rules = Counter(h.rule for d in decisions for h in d.hits)
    shadow = Counter(h.rule for d in decisions for h in d.shadow_hits)
    return outcomes, rules, shadow


def state_memory(
    pack: CompiledPack, events: Sequence[Event], batch: int = 1000
) -> tuple[int, int, dict[str, int]]:
    """Bytes held by the detector state after the stream (tracemalloc), entities, entities per family."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = Engine([pack])
    for i in range(0, len(events), batch):
        engine.evaluate_many(events[i : i + batch])  # decisions dropped: only state remains
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    families = {name: family.entity_count() for name, family in engine.store.families.items()}
    return after - before, engine.store.entity_count(), families


def redis_url(given: str | None) -> str | None:
    """The Redis to measure against, if one answers."""
    url = given or os.environ.get("VIGIL_REDIS_URL") or os.environ.get("VIGIL_TEST_REDIS_URL")
    if not url:
        return None
    try:
        RedisStore.from_url(url, "probe").client.ping()
    except Exception as exc:  # any failure to connect means: no Redis row
        print(f"NOTE: Redis at {url} does not answer ({type(exc).__name__}); no Redis row")
        return None
    return url


def redis_memory(url: str, pack: CompiledPack, events: Sequence[Event], batch: int) -> str:
    """Keys and server memory the stream's state takes in Redis, and the per-batch traffic."""
    store = RedisStore.from_url(url, f"bench-{uuid.uuid4().hex[:8]}")
    before = int(store.client.info("memory")["used_memory"])  # type: ignore[index]
    engine = Engine([pack], store=store)

    def server_cpu() -> float:
        info = store.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])  # type: ignore[index]

    s0, c0, t0 = server_cpu(), time.process_time(), time.perf_counter()
    for i in range(0, len(events), batch):
        engine.evaluate_many(events[i : i + batch])
    wall, client, server = time.perf_counter() - t0, time.process_time() - c0, server_cpu() - s0
    keys = sum(1 for _ in store.client.scan_iter(match=store.prefix + b"*", count=1000))
    used = int(store.client.info("memory")["used_memory"]) - before  # type: ignore[index]
    stats = store.stats
    store.clear()
    n = len(events)
    return (
        f"Redis run (one more, not in the table): {n / wall:,.0f} events/s; CPU per event "
        f"{client / n * 1e6:.1f} µs in this process + {server / n * 1e6:.1f} µs in redis-server\n"
        f"Redis state after {len(events):,} events: {keys:,} keys, {used / 1e6:.1f} MB server memory "
        f"(about {used / max(keys, 1):,.0f} bytes per key); per batch of {batch:,}: "
        f"{stats['loaded'] / max(stats['batches'], 1):,.0f} entities loaded, "
        f"{stats['written'] / max(stats['batches'], 1):,.0f} written; conflicts {stats['conflicts']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="events to simulate (default 100000)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement; median (default 3)")
    parser.add_argument("--batch", type=int, default=1000, help="evaluate_many batch size (default 1000)")
    parser.add_argument("--pack", type=Path, default=PACK, help=f"pack to load (default {PACK})")
    parser.add_argument(
        "--redis",
        default=None,
        help="Redis URL for the RedisStore row (default VIGIL_REDIS_URL, VIGIL_TEST_REDIS_URL)",
    )
    args = parser.parse_args(argv)

    print(f"# Vigil engine throughput: cards pack, simulated payment stream, {args.n:,} events")
    print(f"machine: {machine()}")
    started = time.perf_counter()

    pack, path, note = load_cards(args.pack)
    if note:
        print(note)
    detectors = sorted({c.func for c in pack.generated.detector_calls})
    print(
        f"pack: {path} ({pack.name} {pack.version}, {len(pack.checked.rules)} rules, "
        f"detectors: {', '.join(detectors) or 'none'})"
    )

    t0 = time.perf_counter()
    events: list[Event] = list(simulate("payment", args.n, args.seed))
    sim_s = time.perf_counter() - t0
    buffer = io.BytesIO()
    write_jsonl(events, buffer)
    data = buffer.getvalue()
    lines = data.splitlines()
    print(
        f"stream: simulate('payment', {args.n}, seed={args.seed}) in {sim_s:.1f} s; "
        f"JSON lines {len(data) / 1e6:.1f} MB ({len(data) / max(len(lines), 1):.0f} bytes/event)"
    )
    gc.collect()
    gc.freeze()  # the inputs are long-lived: keep collections from rescanning them

    def make() -> Engine:
        return Engine([pack])

    n = len(events)
    plans: list[tuple[str, Callable[[Engine], list[Decision]], str]] = [
        ("`evaluate`, one event per call", one_by_one(events), "Structs"),
        (f"`evaluate_many`, batches of {args.batch:,}", batched(events, args.batch), "Structs"),
        ("`evaluate_many`, whole stream in one call", batched(events, max(n, 1)), "Structs"),
        ("`decode_event` per line + `evaluate_many`", from_lines(lines), "JSON lines bytes"),
        ("`Decoder(Event).decode_lines` + `evaluate_many`", from_buffer(data), "JSON lines bytes"),
    ]
    url = redis_url(args.redis)
    makers: dict[str, Callable[[], Engine]] = {}
    if url is not None:
        label = f"`evaluate_many`, batches of {args.batch:,}, `RedisStore`"
        plans.append((label, batched(events, args.batch), "Structs; state in Redis"))

        def make_redis() -> Engine:
            store = RedisStore.from_url(url, f"bench-{uuid.uuid4().hex[:8]}")
            stores.append(store)
            return Engine([pack], store=store)

        stores: list[RedisStore] = []
        makers[label] = make_redis
    rows: list[Row] = []
    reference: list[tuple[str, float, int]] | None = None
    consistent = True
    for label, run, note_text in plans:
        walls, cpus, decisions = timed(makers.get(label, make), run, args.reps)
        rows.append(Row(label, n, walls, cpus, note_text))
        fingerprint: list[tuple[str, float, int]] = [(d.outcome, d.score, len(d.hits)) for d in decisions]
        if reference is None:
            reference = fingerprint
        consistent = consistent and fingerprint == reference
        del decisions

    decoder = msgspec.json.Decoder(Event)
    decode_walls: list[float] = []
    decode_cpus: list[float] = []
    for _ in range(args.reps):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        decoded = decoder.decode_lines(data)
        t1, c1 = time.perf_counter(), time.process_time()
        decode_walls.append(t1 - t0)
        decode_cpus.append(c1 - c0)
        del decoded
    rows.append(Row("decode only: `Decoder(Event).decode_lines`", n, decode_walls, decode_cpus, "no rules"))

    print()
    print(
        "| measurement | events | events/s (median) | µs/event (median) | µs/event (best) "
        "| CPU µs/event (median) | input |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(row.line())
    print()

    last = Engine([pack]).evaluate_many(events)
    outcomes, rules, shadow = summary(last)
    print(
        "decisions: "
        + ", ".join(f"{k} {outcomes[k]:,}" for k in ("approve", "review", "block"))
        + f"; hits {sum(rules.values()):,} ("
        + ", ".join(f"{name} {count:,}" for name, count in rules.most_common())
        + f"); shadow hits {sum(shadow.values()):,}"
        + "".join(f", {name} {count:,}" for name, count in shadow.most_common())
    )
    print(f"every measurement gave the same decisions: {'yes' if consistent else 'NO'}")
    del last

    if url is not None:
        for store in stores:
            store.clear()
        print(redis_memory(url, pack, events, args.batch))
    state_bytes, entities, families = state_memory(pack, events, args.batch)
    per_entity = state_bytes / entities if entities else 0.0
    print(
        f"detector state after {n:,} events: {entities:,} entities "
        f"({', '.join(f'{name} {count:,}' for name, count in families.items())}), "
        f"{state_bytes / 1e6:.1f} MB traced, about {per_entity:,.0f} bytes per tracked entity"
    )
    gc.unfreeze()
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
