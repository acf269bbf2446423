"""The detector interface: a typed signature checked at compile time and a pure computation.

A detector call in a rule, ``velocity(event.card_id, 1h)``, has *dynamic* arguments
(expressions evaluated per event, such as the key) and *constant* ones (the window).
Calls whose dynamic arguments are the same expressions share one piece of state,
a ``StateFamily``: ``velocity(event.card_id, 1h)`` and ``sum_amount(event.card_id, 24h)``
read the same log of the card's events. Each event is first evaluated against the
state as it was (``query``), then recorded (``observe``), so a later event of the
same entity, in the same batch or not, sees the earlier ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dsl.types import FunctionSig


class StateFamily(ABC):
    """Per-entity state shared by the detectors that read it (one instance per group)."""

    #: event fields recorded besides the key and the time, e.g. ("amount",)
    inputs: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: whether events of the kinds whose rules call the detectors are recorded (``observe``)
    observes: ClassVar[bool] = True
    #: other kinds whose events feed this state (``feed``): kind -> (key field, recorded fields)
    feeds: ClassVar[dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]]] = {}
    #: for a family its detectors read without a key argument: the event field naming the entity
    query_key: ClassVar[tuple[str, ...] | None] = None
    #: what the engine knows besides events (reference data, labels); set when linked
    context: Any = None

    def __init__(self, retention: float) -> None:
        #: how long (event time, seconds) entries must be kept for the longest window read
        self.retention = retention

    @abstractmethod
    def observe(self, key: Any, ts: float, *inputs: Any) -> None:
        """Record one event of ``key`` at event time ``ts``."""

    def feed(self, key: Any, ts: float, *inputs: Any) -> None:
        """Record one event of a feeding kind (see ``feeds``); by default the same as observe."""
        self.observe(key, ts, *inputs)

    @abstractmethod
    def entity_count(self) -> int:
        """How many entities hold state (for memory accounting)."""

    # ---- shared stores (engine.state_redis): how the state is saved and loaded
    #: ``"key"``: one record per entity key (``export_key``/``import_key``); ``"global"``:
    #: the whole family is one record (``export_all``/``import_all``); ``"none"``: nothing is kept
    sharing: ClassVar[str] = "key"

    def export_key(self, key: Any) -> bytes | None:
        """The entity's state as msgpack bytes, or None when it holds none."""
        raise NotImplementedError(f"{type(self).__name__} cannot be kept in a shared store yet")

    def import_key(self, key: Any, data: bytes | None) -> None:
        """Replace the entity's state by ``data`` (from ``export_key``); None forgets it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be kept in a shared store yet")

    def export_all(self) -> bytes:
        """The whole family as msgpack bytes (``sharing == "global"``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be kept in a shared store yet")

    def import_all(self, data: bytes | None) -> None:
        """Replace the whole family by ``data`` (from ``export_all``); None empties it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be kept in a shared store yet")

    def reset(self) -> None:
        """Forget every entity (a shared store empties per-key families before each batch)."""
        context = self.context
        self.__init__(self.retention)  # type: ignore[misc]
        self.context = context


def hashable(value: Any) -> Any:
    """A decoded key or value with msgpack arrays turned back into tuples (dict keys, set items)."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    return value


class Detector(ABC):
    """One callable detector: its signature and how it reads its family's state."""

    sig: ClassVar[FunctionSig]
    #: the StateFamily subclass this detector reads
    family: ClassVar[type[StateFamily]]
    #: names of the parameters evaluated per event; they identify the shared state
    dynamic: ClassVar[tuple[str, ...]] = ("key",)

    @classmethod
    def retention(cls, consts: dict[str, Any]) -> float:
        """Seconds of history this call needs (its window)."""
        return float(consts.get("w", 0.0))

    @classmethod
    @abstractmethod
    def query(cls, state: Any, consts: dict[str, Any], key: Any, ts: float, *args: Any) -> Any:
        """The value for the current event, before it is observed; current event included where stated."""
