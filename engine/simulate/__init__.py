"""Labelled, realistic event streams for the demo, the tests and the benchmarks.

``simulate(kind, n, seed)`` yields exactly ``n`` events of one kind (or of the
``fleet`` and ``ato`` mixes) in event-time order. Every event carries
``attributes = {"is_fraud": bool, "scenario": "<pattern>" | "legit"}``, with
``is_fraud`` true exactly when the scenario is not ``legit``. Streams depend on
nothing but their arguments: no global random state, no wall clock.

Populations grow with ``n`` in powers of two, so a longer stream covers more
customers or vehicles rather than more years; streams whose ``n`` falls in the
same tier are prefixes of one another.

What a scoring run needs besides the events: the fleet's reference data
(``fleet_vehicles(seed)``, for ``over_tank_capacity``), the attackers' addresses
(``ATTACKER_IPS``, for a ``blocked_ips`` list) and the engine's default working
schedule (weekdays 06:00-20:00 UTC), which honest drivers keep and night fills break.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from typing import IO

import msgspec

from engine.events import KINDS, BaseEvent, Event, FuelPurchase, Login, SessionActivity, VehiclePosition
from engine.simulate._core import ATTACKER_IPS, DEFAULT_START, Draft, materialise, start_millis
from engine.simulate.accounts import LOGIN_SCENARIOS, SESSION_SCENARIOS, account_drafts
from engine.simulate.fleet import FUEL_SCENARIOS, MAX_FLEET, POSITION_SCENARIOS, fleet_drafts, fleet_vehicles
from engine.simulate.payments import SCENARIOS as PAYMENT_SCENARIOS
from engine.simulate.payments import payment_drafts

__all__ = [
    "ATTACKER_IPS",
    "DEFAULT_START",
    "MAX_FLEET",
    "SCENARIOS",
    "SIMULATED_KINDS",
    "fleet_vehicles",
    "simulate",
    "write_jsonl",
]


def _merge(*lists: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for entries in lists:
        for name, description in entries:
            seen.setdefault(name, description)
    return list(seen.items())


#: the injected fraud patterns of each simulated kind: ``(name, one-line description)``
SCENARIOS: dict[str, list[tuple[str, str]]] = {
    "payment": PAYMENT_SCENARIOS,
    "fuel_purchase": FUEL_SCENARIOS,
    "vehicle_position": POSITION_SCENARIOS,
    "login": LOGIN_SCENARIOS,
    "session_activity": SESSION_SCENARIOS,
    "fleet": FUEL_SCENARIOS + POSITION_SCENARIOS,
    "ato": _merge(LOGIN_SCENARIOS, SESSION_SCENARIOS),
}

#: every value ``simulate`` accepts for ``kind``: the event kinds and the two mixes
SIMULATED_KINDS: tuple[str, ...] = (*KINDS, "fleet", "ato")

_WANTED: dict[str, frozenset[type[BaseEvent]]] = {
    **{kind: frozenset({cls}) for kind, cls in KINDS.items()},
    "fleet": frozenset({VehiclePosition, FuelPurchase}),
    "ato": frozenset({Login, SessionActivity}),
}


def _drafts(kind: str, n: int, seed: int, start_ms: int) -> Iterator[Draft]:
    if kind == "payment":
        return payment_drafts(seed, n, start_ms)
    if kind in ("login", "session_activity", "ato"):
        return account_drafts(seed, n, start_ms, kind)
    return fleet_drafts(seed, n, start_ms, kind)


def simulate(kind: str, n: int, seed: int = 7, start: dt.datetime | None = None) -> Iterator[Event]:
    """Exactly ``n`` labelled events of ``kind`` in non-decreasing timestamp order.

    ``kind`` is an event kind (``payment``, ``login``, ...), ``fleet`` (vehicle
    positions interleaved with fuel purchases) or ``ato`` (logins interleaved
    with session activity). The same arguments always give the same events;
    ``start`` (default 2026-01-01T00:00:00Z, naive means UTC) is the earliest
    possible timestamp.
    """
    if kind not in SIMULATED_KINDS:
        raise ValueError(f"unknown kind {kind!r} to simulate; expected one of: {', '.join(SIMULATED_KINDS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    start_ms = start_millis(start)
    return _take(kind, n, seed, start_ms)


def _take(kind: str, n: int, seed: int, start_ms: int) -> Iterator[Event]:
    # A generator of its own, so simulate() validates its arguments when called,
    # not when the first event is asked for.
    if n == 0:
        return
    yield from itertools.islice(materialise(_drafts(kind, n, seed, start_ms), _WANTED[kind]), n)


def write_jsonl(events: Iterable[Event], out: IO[bytes]) -> int:
    """Write one JSON object per line (``kind`` included) to ``out``; returns the count."""
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    count = 0
    for event in events:
        encoder.encode_into(event, buffer, -1)
        buffer.extend(b"\n")
        count += 1
        if len(buffer) >= 1 << 20:
            out.write(bytes(buffer))
            buffer.clear()
    if buffer:
        out.write(bytes(buffer))
    return count
