"""The Engine: routes events to the compiled evaluators of its packs and returns Decisions.

Events are msgspec Structs (decoded and validated) or plain mappings that already
follow a kind's schema (the fast path for trusted in-process producers).
Consecutive events of one kind are evaluated in one call of that kind's generated
loop, in order, so a later event sees the state left by the earlier ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from engine.decision import OUTCOME_RANK, Decision
from engine.detectors.base import StateFamily
from engine.events import KINDS, BaseEvent
from engine.pack import CompiledPack, Evaluator, Featurizer, Feeder, KeyFinder
from engine.runtime import epoch
from engine.state import MemoryStore

if TYPE_CHECKING:
    from engine.state_redis import RedisStore

_RISK_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_VERDICT_RANK = {"allow": 0, "review": 1, "block": 2}
_KIND_OF_TYPE: dict[type, str] = {cls: name for name, cls in KINDS.items()}


class EngineContext:
    """What evaluators read besides the event: managed lists, model scores, reference data, labels."""

    def __init__(self) -> None:
        self.lists: dict[str, frozenset[str]] = {}
        #: model name -> a fixed score, or an object with ``score(X) -> scores`` for a batch
        self.models: dict[str, Any] = {}
        #: reference data by table and record id (vehicles, schedules)
        self.refs: dict[str, dict[str, dict[str, Any]]] = {}
        #: the latest label of each event id: (is fraud, event time the label became known)
        self.labels: dict[str, tuple[bool, float]] = {}
        #: event ids in the order their labels were set (append-only), so detector
        #: state (entity_risk, hotspot) can catch up with new labels incrementally
        self.label_log: list[str] = []

    def model_score(self, name: str) -> float | None:
        score = self.models.get(name)
        if score is None or isinstance(score, int | float):
            return score
        return score() if callable(score) else None

    def score_batch(self, name: str, rows: list[list[float]]) -> list[float | None]:
        """One model call for a whole batch: the score of each row (None without a model)."""
        scorer = self.models.get(name)
        if scorer is None or not rows:
            return [None] * len(rows)
        if isinstance(scorer, int | float):  # a fixed score, as `given model "x" = 0.9` in tests
            return [float(scorer)] * len(rows)
        batch_score = getattr(scorer, "score", None)
        if batch_score is not None:
            import numpy as np  # only engines that score models need numpy

            scores = batch_score(np.asarray(rows, dtype=np.float64))
            return [None if s != s else float(s) for s in scores]  # NaN: no score
        return [scorer() for _ in rows]

    def set_label(self, event_id: str, fraud: bool, known_at: Any) -> None:
        """Label an event fraud or legitimate, known from ``known_at`` (epoch seconds or a time).

        A later label of the same event replaces the earlier one. Detectors only count
        a label once the event being evaluated is at or after ``known_at``.
        """
        event_id = str(event_id)
        self.labels[event_id] = (bool(fraud), epoch(known_at))
        self.label_log.append(event_id)


class Engine:
    """Evaluates events against one or more compiled packs for one tenant."""

    def __init__(
        self,
        packs: Sequence[CompiledPack],
        lists: Mapping[str, Iterable[str]] | None = None,
        store: MemoryStore | RedisStore | None = None,
    ) -> None:
        """``store`` keeps the detector state: a ``MemoryStore`` (the default) or a shared
        ``engine.state_redis.RedisStore``, which is synchronised once per batch."""
        self.packs = list(packs)
        self.store = store or MemoryStore()
        self.context = EngineContext()
        for key, items in (lists or {}).items():
            self.set_list(key, items)
        self._routes: dict[str, list[tuple[CompiledPack, Evaluator]]] = {}
        self._feeders: dict[str, list[Feeder]] = {}
        #: per kind, the key finders of the packs and their state by group (shared stores only)
        self._finders: dict[str, list[tuple[KeyFinder, dict[str, StateFamily]]]] = {}
        self._featurizers: dict[str, list[Featurizer]] = {}
        for pack in self.packs:
            linked = pack.link(self._family)
            for kind, evaluator in linked.evaluators.items():
                self._routes.setdefault(kind, []).append((pack, evaluator))
            for kind, feeder in linked.feeders.items():
                self._feeders.setdefault(kind, []).append(feeder)
            for kind, finder in linked.keys.items():
                self._finders.setdefault(kind, []).append((finder, linked.states))
            for kind, featurize in linked.features.items():
                self._featurizers.setdefault(kind, []).append(featurize)
        self._shared = getattr(self.store, "run_batch", None)

    def _family(self, name: str, cls: type[StateFamily], retention: float) -> StateFamily:
        family = self.store.family(name, cls, retention)
        family.context = self.context
        return family

    def register_kind(self, cls: type[BaseEvent], name: str) -> None:
        """Let Struct events of a custom kind be routed by their type."""
        _KIND_OF_TYPE[cls] = name

    def set_list(self, key: str, items: Iterable[str]) -> None:
        """Replace a managed list's items (atomically for evaluators)."""
        self.context.lists[key] = frozenset(items)

    def set_ref(self, table: str, record: Mapping[str, Any]) -> None:
        """Add or replace one reference record (``{"id": "v7", "tank_liters": 60}``)."""
        self.context.refs.setdefault(table, {})[str(record["id"])] = dict(record)

    def set_model(self, name: str, score: Any) -> None:
        """The active model for ``model("name")``: an object with ``score(X)``, or a fixed score."""
        self.context.models[name] = score

    def features(self, model: str, events: Sequence[Any], kind: str | None = None) -> Any:
        """The feature rows of ``model`` for the events, computed in order as scoring sees them.

        Detector state advances exactly as in ``evaluate_many``, so the rows of a time-ordered
        stream on a fresh engine are the rows live scoring gave: no training/serving skew.
        Returns a float64 array (n, features) with NaN for null.
        """
        import numpy as np  # only training needs numpy

        rows: list[list[float]] = []
        width = 0
        for pack in self.packs:
            if model in pack.checked.models:
                width = len(pack.checked.models[model].features)
        if not width:
            raise KeyError(f"no pack of this engine declares model '{model}'")
        for run, run_kind, mapping in self._runs(events, kind):
            for feeder in self._feeders.get(run_kind or "", ()):
                feeder(run, self.context, mapping)  # type: ignore[arg-type]
            produced = False
            for featurize in self._featurizers.get(run_kind or "", ()):
                per_model = featurize(run, self.context, mapping)  # type: ignore[arg-type]
                if model in per_model and not produced:
                    rows.extend(per_model[model])
                    produced = True
            if not produced:
                rows.extend([[math.nan] * width for _ in run])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)

    def evaluate(self, event: Any, kind: str | None = None) -> Decision:
        return self.evaluate_many([event], kind)[0]

    def evaluate_many(self, events: Sequence[Any], kind: str | None = None) -> list[Decision]:
        """Decisions for the events, in order. ``kind`` names the kind of mapping events that omit it.

        On a shared store the whole call is one batch: the entities its events touch are
        loaded once, the events evaluated in memory, and the changes written back once.
        """
        if self._shared is not None and events:
            return self._shared(self._touched(events, kind), lambda: self._evaluate_many(events, kind))  # type: ignore[no-any-return]
        return self._evaluate_many(events, kind)

    def _touched(self, events: Sequence[Any], kind: str | None) -> dict[StateFamily, set[Any]]:
        """The entity keys of every state family the events touch."""
        touched: dict[StateFamily, set[Any]] = {}
        for run, run_kind, mapping in self._runs(events, kind):
            for finder, states in self._finders.get(run_kind or "", ()):
                for group, keys in finder(run, self.context, mapping).items():  # type: ignore[arg-type]
                    family = states[group]
                    if family in touched:
                        touched[family] |= keys
                    else:
                        touched[family] = keys
        return touched

    def _runs(
        self, events: Sequence[Any], kind: str | None
    ) -> Iterator[tuple[Sequence[Any], str | None, bool]]:
        """Consecutive events of one kind and representation, as ``_evaluate_many`` splits them."""
        start, n = 0, len(events)
        while start < n:
            first = events[start]
            mapping = isinstance(first, Mapping)
            run_kind = kind or (first.get("kind") if mapping else _KIND_OF_TYPE.get(type(first)))
            if mapping:
                end = _run_end_mapping(events, start, n, None if kind else run_kind)
            else:
                end, cls = start + 1, type(first)
                while end < n and type(events[end]) is cls:
                    end += 1
            yield events[start:end], run_kind, mapping
            start = end

    def _evaluate_many(self, events: Sequence[Any], kind: str | None = None) -> list[Decision]:
        if not events:
            return []
        types = set(map(type, events))  # one C-level pass: most batches hold one kind
        if len(types) == 1:
            (only,) = types
            if issubclass(only, msgspec.Struct):
                return self._evaluate_run(events, kind or _KIND_OF_TYPE.get(only), False)
            if kind is not None and issubclass(only, Mapping):
                return self._evaluate_run(events, kind, True)
        out: list[Decision] = []
        start = 0
        n = len(events)
        while start < n:
            first = events[start]
            mapping = isinstance(first, Mapping)
            run_kind = kind or (first.get("kind") if mapping else _KIND_OF_TYPE.get(type(first)))
            end = start + 1
            # extend the run while the kind and representation stay the same
            if mapping:
                end = _run_end_mapping(events, start, n, None if kind else run_kind)
            else:
                cls = type(first)
                while end < n and type(events[end]) is cls:
                    end += 1
            run = events[start:end] if (start, end) != (0, n) else events
            out.extend(self._evaluate_run(run, run_kind, mapping))
            start = end
        return out

    def _evaluate_run(self, run: Sequence[Any], kind: str | None, mapping: bool) -> list[Decision]:
        if kind is None:
            raise ValueError("event has no kind; decode events with engine.events.decode_event")
        routes = self._routes.get(kind)
        for feeder in self._feeders.get(kind, ()):
            feeder(run, self.context, mapping)  # type: ignore[arg-type]
        if not routes:
            ids = (e.get("id") if mapping else e.id for e in run)
            return [Decision(str(i), "approve", 0, "low") for i in ids]
        if len(routes) == 1:
            return routes[0][1](run, self.context, mapping)  # type: ignore[arg-type]
        per_pack = [evaluator(run, self.context, mapping) for _, evaluator in routes]  # type: ignore[arg-type]
        return [combine(list(ds)) for ds in zip(*per_pack, strict=True)]


def _run_end_mapping(events: Sequence[Any], start: int, n: int, kind: str | None) -> int:
    end = start + 1
    while end < n and isinstance(events[end], Mapping) and (kind is None or events[end].get("kind") == kind):
        end += 1
    return end


def combine(decisions: list[Decision]) -> Decision:
    """One decision from several packs: the most severe outcome decides; hits are merged."""
    lead = max(decisions, key=lambda d: (OUTCOME_RANK[d.outcome], d.score))
    score = max(d.score for d in decisions)
    hits = tuple(h for d in decisions for h in d.hits)
    shadow = tuple(h for d in decisions for h in d.shadow_hits)
    effects = tuple(e for d in decisions for e in d.effects)
    verdicts = [d.verdict for d in decisions if d.verdict is not None]
    verdict = max(verdicts, key=lambda v: _VERDICT_RANK[v or "allow"]) if verdicts else None
    # each pack grades risk with its own thresholds: the combined level is the most severe
    risk = max((d.risk_level for d in decisions), key=_RISK_RANK.__getitem__)
    return Decision(lead.event_id, lead.outcome, score, risk, verdict, hits, shadow, effects, lead.pack)
