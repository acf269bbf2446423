"""Detectors fed by fraud labels: ``entity_risk`` and ``hotspot``.

Labels live in the engine context (``EngineContext.set_label``): per event id,
whether it was fraud and the (event) time the label became known. Only labels
known at the evaluated event's time count (``known_at <= t``), so a label never
leaks into the decisions of events before it was known; the latest label of an
event replaces earlier ones. The families remember which key (or place) each
event in their window belonged to, pick up labels set since they last looked
(``context.label_log``), and also check the labels already known when they record
an event, so labels may arrive before or after the events they name.

* ``entity_risk(key, w, delay: 7d)``: of this key's events in
  ``(t - delay - w, t - delay]``, the share labelled fraud with the label known
  at ``t``; null when the key has no event in that window. The current event is
  never counted. This is the terminal / merchant risk of the handbook: the delay
  is the time labels take to come in, so the window ends where labels are
  reliable.
* ``hotspot(radius_km: 1, w: 30d)``: events in ``(t - w, t]`` labelled fraud
  (label known at ``t``) within ``radius_km`` (great-circle, inclusive) of this
  event's ``geo``; null for an event without ``geo``. Fraud cases are kept in a
  grid of 0.05-degree cells, so a query looks only at the cells the circle
  touches.

Bookkeeping costs one small entry per event in the window (id, key or position),
dropped as the window moves on; the window is kept ``common.LATE_HORIZON`` longer,
so events up to a day late see exactly the events of their own window.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import deque
from operator import itemgetter
from typing import Any

import msgspec

from dsl.types import DURATION, KEY, NUMBER, FunctionSig, Param
from engine.detectors.base import Detector, StateFamily
from engine.detectors.common import LATE_HORIZON, Keyed, haversine_km, positive
from engine.detectors.travel import GEO_KINDS

_first = itemgetter(0)
_encode = msgspec.msgpack.Encoder().encode
_decode_map = msgspec.msgpack.Decoder(
    tuple[float, list[tuple[str, float, float, float]], list[tuple[float, str]]]
).decode
#: side of a hotspot grid cell, in degrees
CELL_DEGREES = 0.05
_KM_PER_DEGREE = 6371.0088 * math.pi / 180
_LON_CELLS = round(360 / CELL_DEGREES)


class LabelReader:
    """Catches up with the labels set in the engine context since the last look."""

    context: Any

    def __init__(self) -> None:
        self.cursor = 0

    def label(self, event_id: str) -> tuple[bool, float] | None:
        context = self.context
        return None if context is None else context.labels.get(event_id)

    def new_labels(self) -> list[str]:
        """Event ids labelled (or relabelled) since the last call."""
        context = self.context
        if context is None or self.cursor >= len(context.label_log):
            return []
        fresh: list[str] = context.label_log[self.cursor :]
        self.cursor = len(context.label_log)
        return fresh


# ---- entity_risk


def risk_share(
    times: list[float], fraud: list[tuple[float, float, str]], ts: float, w: float, delay: float
) -> float | None:
    """Share of the events in ``(ts - delay - w, ts - delay]`` whose fraud label is known at ``ts``."""
    high = ts - delay
    low = high - w
    n = bisect_right(times, high) - bisect_right(times, low)
    if n == 0:
        return None
    lo, hi = bisect_right(fraud, low, key=_first), bisect_right(fraud, high, key=_first)
    frauds = sum(1 for _, known_at, _ in fraud[lo:hi] if known_at <= ts)
    return frauds / n


class _Risk(msgspec.Struct):
    last: float
    times: list[float]
    ids: list[str]
    #: (event time, label known at, event id) of the key's events labelled fraud, sorted
    fraud: list[tuple[float, float, str]] = []


_decode_risk = msgspec.msgpack.Decoder(_Risk).decode


class LabelledLog(Keyed, LabelReader):
    """Per key: its events' times and ids, and which of them are labelled fraud."""

    inputs = (("id",),)
    record = _Risk

    def __init__(self, retention: float) -> None:
        Keyed.__init__(self, retention)
        LabelReader.__init__(self)
        self.entities: dict[Any, _Risk] = {}
        #: event id -> (key, event time), for the events in the window
        self.where: dict[str, tuple[Any, float]] = {}

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        event_id = inputs[0] if inputs else None
        if key is None or event_id is None:
            return
        rec = self.entities.get(key)
        if rec is None:
            rec = self.entities[key] = _Risk(ts, [ts], [event_id])
        else:
            at = bisect_right(rec.times, ts)
            rec.times.insert(at, ts)
            rec.ids.insert(at, event_id)
            if ts > rec.last:
                rec.last = ts
            self._trim(rec)
        self.where[event_id] = (key, ts)
        context = self.context
        if context is not None and context.labels:  # a label may come before its event
            label = context.labels.get(event_id)
            if label is not None and label[0]:
                insort(rec.fraud, (ts, label[1], event_id))
        self.tick(ts)

    def _trim(self, rec: _Risk) -> None:
        """Drop the events no window reaches any more, a quarter retention at a time."""
        cutoff = rec.last - self.retention
        if rec.times[0] > cutoff - self.retention / 4:
            return
        cut = bisect_right(rec.times, cutoff)
        for event_id in rec.ids[:cut]:
            self.where.pop(event_id, None)
        del rec.times[:cut]
        del rec.ids[:cut]
        if rec.fraud and rec.fraud[0][0] <= cutoff:
            del rec.fraud[: bisect_right(rec.fraud, cutoff, key=_first)]

    def forget(self, key: Any) -> None:
        for event_id in self.entities[key].ids:
            self.where.pop(event_id, None)
        super().forget(key)

    def reset(self) -> None:
        super().reset()
        # entities imported after this recompute their fraud from every label known now
        self.cursor = len(self.context.label_log) if self.context is not None else 0

    def import_key(self, key: Any, data: bytes | None) -> None:
        """Load a key's log; which of its events are fraud follows this engine's labels.

        A shared store loads state after ``reset``, which skips the labels known then:
        ``where`` (used to apply later labels) is not rebuilt for imported events.
        """
        if key in self.entities:
            self.forget(key)
        if data is None:
            return
        rec = _decode_risk(data)
        labels = self.context.labels if self.context is not None else None
        fraud: list[tuple[float, float, str]] = []
        if labels:
            for ts, event_id in zip(rec.times, rec.ids, strict=True):
                label = labels.get(event_id)
                if label is not None and label[0]:
                    fraud.append((ts, label[1], event_id))
            fraud.sort()
        rec.fraud = fraud
        self.entities[key] = rec

    def sync(self) -> None:
        """Apply labels set since the last query to the events they name."""
        for event_id in self.new_labels():
            located = self.where.get(event_id)
            rec = self.entities.get(located[0]) if located is not None else None
            if rec is None or located is None:
                continue
            ts = located[1]
            rec.fraud = [f for f in rec.fraud if f[2] != event_id]
            label = self.label(event_id)
            if label is not None and label[0]:
                insort(rec.fraud, (ts, label[1], event_id))


class EntityRisk(Detector):
    sig = FunctionSig(
        "entity_risk",
        (
            Param("key", KEY),
            Param("w", DURATION, const=True),
            Param("delay", DURATION, default=7 * 86400.0, const=True),
        ),
        NUMBER,
        stateful=True,
        inputs=(("id",),),
        validate=positive("w", "delay", allow_zero=("delay",)),
        doc="share of this key's events in (t - delay - w, t - delay] labelled fraud, labels known at t",
    )
    family = LabelledLog

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return float(consts["w"]) + float(consts["delay"]) + LATE_HORIZON

    @classmethod
    def query(cls, state: LabelledLog, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        if key is None:
            return None
        state.sync()
        rec = state.entities.get(key)
        if rec is None:
            return None
        return risk_share(rec.times, rec.fraud, ts, consts["w"], consts["delay"])


# ---- hotspot


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return math.floor((lat + 90.0) / CELL_DEGREES), math.floor((lon + 180.0) / CELL_DEGREES) % _LON_CELLS


def cells_around(lat: float, lon: float, radius_km: float) -> list[tuple[int, int]] | None:
    """The grid cells a circle touches; None when that is most of the globe's width."""
    dlat = radius_km / _KM_PER_DEGREE
    cos = math.cos(math.radians(min(89.9, abs(lat))))
    dlon = radius_km / (_KM_PER_DEGREE * cos)
    if dlon >= 180 or dlat >= 90:
        return None
    y0, x0 = cell_of(max(-90.0, lat - dlat), lon - dlon)
    y1, x1 = cell_of(min(90.0, lat + dlat), lon + dlon)
    span = (x1 - x0) % _LON_CELLS
    return [(y, (x0 + i) % _LON_CELLS) for y in range(y0, y1 + 1) for i in range(span + 1)]


#: a fraud case on the map: (event time, label known at, lat, lon, event id)
Case = tuple[float, float, float, float, str]


def count_cases(cases: list[Case], ts: float, w: float, lat: float, lon: float, radius_km: float) -> int:
    """Cases in ``(ts - w, ts]``, known at ``ts``, within ``radius_km`` of (lat, lon)."""
    low = ts - w
    return sum(
        1
        for t, known_at, clat, clon, _ in cases
        if low < t <= ts and known_at <= ts and haversine_km(lat, lon, clat, clon) <= radius_km
    )


class FraudMap(StateFamily, LabelReader):
    """Positions of the events in the window, and a grid of those labelled fraud."""

    inputs = (("id",), ("geo", "lat"), ("geo", "lon"))

    def __init__(self, retention: float) -> None:
        StateFamily.__init__(self, retention)
        LabelReader.__init__(self)
        #: event id -> (event time, lat, lon), for the events in the window
        self.where: dict[str, tuple[float, float, float]] = {}
        self._arrivals: deque[tuple[float, str]] = deque()
        self.cells: dict[tuple[int, int], list[Case]] = {}
        self.case_cell: dict[str, tuple[int, int]] = {}
        self.latest = -math.inf
        self._until_sweep = 1024

    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        event_id, lat, lon = inputs if len(inputs) == 3 else (None, None, None)
        if event_id is None or lat is None or lon is None:
            return
        self.where[event_id] = (ts, lat, lon)
        self._arrivals.append((ts, event_id))
        label = self.label(event_id)
        if label is not None and label[0]:
            self._add_case(event_id, ts, label[1], lat, lon)
        if ts > self.latest:
            self.latest = ts
        cutoff = self.latest - self.retention
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= cutoff:
            _, old = arrivals.popleft()
            located = self.where.get(old)
            if located is not None and located[0] <= cutoff:
                del self.where[old]
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep_cases(cutoff)

    def _add_case(self, event_id: str, ts: float, known_at: float, lat: float, lon: float) -> None:
        cell = cell_of(lat, lon)
        self.cells.setdefault(cell, []).append((ts, known_at, lat, lon, event_id))
        self.case_cell[event_id] = cell

    def _remove_case(self, event_id: str) -> None:
        cell = self.case_cell.pop(event_id, None)
        if cell is not None:
            kept = [c for c in self.cells[cell] if c[4] != event_id]
            if kept:
                self.cells[cell] = kept
            else:
                del self.cells[cell]

    def _sweep_cases(self, cutoff: float) -> None:
        for cell in list(self.cells):
            kept = [c for c in self.cells[cell] if c[0] > cutoff]
            for case in self.cells[cell]:
                if case[0] <= cutoff:
                    self.case_cell.pop(case[4], None)
            if kept:
                self.cells[cell] = kept
            else:
                del self.cells[cell]
        self._until_sweep = max(1024, len(self.case_cell))

    def sync(self) -> None:
        for event_id in self.new_labels():
            self._remove_case(event_id)
            located = self.where.get(event_id)
            label = self.label(event_id)
            if located is not None and label is not None and label[0]:
                self._add_case(event_id, located[0], label[1], located[1], located[2])

    def nearby(self, lat: float, lon: float, radius_km: float) -> list[Case]:
        """The cases in the cells a circle around (lat, lon) touches."""
        cells = cells_around(lat, lon, radius_km)
        if cells is None or len(cells) > len(self.cells):
            return [c for cases in self.cells.values() for c in cases]
        out: list[Case] = []
        for cell in cells:
            found = self.cells.get(cell)
            if found:
                out.extend(found)
        return out

    def entity_count(self) -> int:
        return len(self.where)

    sharing = "global"

    def export_all(self) -> bytes:
        where = [(event_id, *place) for event_id, place in self.where.items()]
        return _encode((self.latest, where, list(self._arrivals)))

    def import_all(self, data: bytes | None) -> None:
        """Load the window's positions; the fraud cases among them follow this engine's labels."""
        self.reset()
        if data is None:
            return
        latest, where, arrivals = _decode_map(data)
        self.latest = latest
        self.where = {event_id: (ts, lat, lon) for event_id, ts, lat, lon in where}
        self._arrivals = deque((ts, event_id) for ts, event_id in arrivals)
        labels = self.context.labels if self.context is not None else {}
        for event_id, (ts, lat, lon) in self.where.items():
            label = labels.get(event_id)
            if label is not None and label[0]:
                self._add_case(event_id, ts, label[1], lat, lon)
        self.cursor = len(self.context.label_log) if self.context is not None else 0


class Hotspot(Detector):
    sig = FunctionSig(
        "hotspot",
        (
            Param("radius_km", NUMBER, default=1, const=True),
            Param("w", DURATION, default=30 * 86400.0, const=True),
        ),
        NUMBER,
        kinds=GEO_KINDS,
        stateful=True,
        inputs=(("id",), ("geo", "lat"), ("geo", "lon")),
        validate=positive("radius_km", "w"),
        doc="confirmed-fraud events within radius_km of the event's location in the window",
    )
    family = FraudMap
    dynamic = ()

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        return float(consts["w"]) + LATE_HORIZON

    @classmethod
    def query(cls, state: FraudMap, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        _, lat, lon = args
        if lat is None or lon is None:
            return None
        state.sync()
        radius = consts["radius_km"]
        return count_cases(state.nearby(lat, lon, radius), ts, consts["w"], lat, lon, radius)
