"""Helpers for the detector tests: run events through a real compiled pack and read detector values.

``Probe("amount_zscore(event.card_id)")`` compiles a one-rule pack whose condition
calls the expression, with every detector of the registry wrapped so that each
query's result is recorded; ``probe.run(*events)`` returns the values the pack's
detectors computed for those events, in order. Feeding events (kinds the pack is
not ``on``) record nothing. This goes through the parser, checker, compiler,
grouping and the engine exactly as production does.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from engine.detectors import DETECTORS, DetectorRegistry
from engine.detectors.base import Detector
from engine.engine import Engine
from engine.events import event_from_dict
from engine.pack import PackError, load_pack

#: 2026-01-01T12:00:00Z, a Thursday
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DAY = 86400.0
_ids = itertools.count(1)


def ts(offset: float) -> float:
    """Epoch seconds of T0 + offset."""
    return T0.timestamp() + offset


def ev(kind: str, at: float, **fields: Any) -> Any:
    """A validated event of ``kind`` at T0 + ``at`` seconds (``id`` given or generated)."""
    data = {"kind": kind, "id": f"e{next(_ids)}", "timestamp": (T0 + dt.timedelta(seconds=at)).isoformat()}
    data.update(fields)
    return event_from_dict(data)


def recording_registry(log: list[Any]) -> DetectorRegistry:
    """The default detectors, each recording the value of every query into ``log``."""
    registry = DetectorRegistry()
    for detector in DETECTORS:

        def query(
            cls: type[Detector],
            state: Any,
            consts: dict[str, Any],
            key: Any,
            t: float,
            *args: Any,
            _query: Any = detector.query,
        ) -> Any:
            value = _query(state, consts, key, t, *args)
            log.append(value)
            return value

        registry.register(type(detector.__name__, (detector,), {"query": classmethod(query)}))
    return registry


def pack_text(condition: str, on: str = "payment", lets: str = "") -> str:
    return (
        f'pack probe 1.0.0 "detector probe"\non {on}\n{lets}\n'
        f"rule probe\n  when {condition}\n  score 1\n\noutcome\n  approve\n"
    )


class Probe:
    """A pack calling ``expr`` once per event of its kinds, and an engine running it."""

    def __init__(self, expr: str, on: str = "payment", condition: str | None = None) -> None:
        self.log: list[Any] = []
        text = pack_text(condition or f"({expr}) is not null", on)
        self.pack = load_pack(text, "<probe>", registry=recording_registry(self.log))
        self.engine = Engine([self.pack])

    def run(self, *events: Any) -> list[Any]:
        start = len(self.log)
        self.engine.evaluate_many(list(events))
        return self.log[start:]

    def one(self, event: Any) -> Any:
        values = self.run(event)
        assert len(values) == 1, values
        return values[0]

    def ref(self, table: str, **record: Any) -> None:
        self.engine.set_ref(table, record)

    def label(self, event_id: str, fraud: bool, known_at: float) -> None:
        self.engine.context.set_label(event_id, fraud, ts(known_at))


def pack_error(condition: str, on: str = "payment", lets: str = "") -> str:
    """The error text of a pack whose rule has this condition (it must fail to check)."""
    with pytest.raises(PackError) as info:
        load_pack(pack_text(condition, on, lets), "<probe>")
    return str(info.value)


def compiles(condition: str, on: str = "payment", lets: str = "") -> bool:
    load_pack(pack_text(condition, on, lets), "<probe>")
    return True
