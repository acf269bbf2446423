"""Replay: rebuild detector state from an event log, in event-time order.

``replay(packs, events)`` sorts the events by event time (a stable sort: events with
the same time keep their order in the log), evaluates them on an engine whose state
starts empty, and returns the decisions in that order. Evaluating a time-ordered
stream live, in any batching, gives the same decisions, because detectors see an
entity's history in event time and every batch sees the batches before it; a log
written out of order (shuffled, or merged from several producers) replays to the
decisions of the ordered stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.decision import Decision
from engine.engine import Engine
from engine.pack import CompiledPack
from engine.runtime import epoch
from engine.state import MemoryStore
from engine.state_redis import RedisStore


def event_time(event: Any) -> float:
    """An event's time in epoch seconds (Struct events and mappings alike)."""
    value = event.get("timestamp") if isinstance(event, Mapping) else event.timestamp
    return epoch(value)


def in_event_time(events: Iterable[Any]) -> list[Any]:
    """The events sorted by event time; ties keep their order."""
    return sorted(events, key=event_time)


def replay(
    packs: Sequence[CompiledPack],
    events: Iterable[Any],
    *,
    store: MemoryStore | RedisStore | None = None,
    labels: Iterable[tuple[str, bool, Any]] = (),
    lists: Mapping[str, Iterable[str]] | None = None,
    refs: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    batch: int = 1000,
) -> list[Decision]:
    """Decisions for ``events`` replayed in event-time order from empty state.

    ``store`` defaults to a new ``MemoryStore``; a ``RedisStore`` is emptied first (its
    tenant's keys are deleted). ``labels`` are ``(event id, is fraud, known at)`` and are
    set before the replay: detectors only count a label from its ``known at`` on.
    ``refs`` are reference records by table (``{"vehicles": [{"id": "v1", ...}]}``).
    """
    if isinstance(store, RedisStore):
        store.clear()
    engine = Engine(packs, lists=lists, store=store or MemoryStore())
    for table, records in (refs or {}).items():
        for record in records:
            engine.set_ref(table, record)
    for event_id, fraud, known_at in labels:
        engine.context.set_label(event_id, fraud, known_at)
    ordered = in_event_time(events)
    out: list[Decision] = []
    for start in range(0, len(ordered), batch):
        out.extend(engine.evaluate_many(ordered[start : start + batch]))
    return out
