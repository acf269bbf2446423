"""One engine per tenant, built from the tenant's active rulepack versions in the store.

A tenant with no published pack gets the shipped ``rulepacks/`` when it is the demo
tenant, and an engine with no packs (every event approved) otherwise. A new engine
replays the tenant's recent events (``warm_hours``) in event-time order to rebuild its
detector state, so a restart or a publish does not reset velocity windows. Each engine
checks the store at most every ``poll_seconds``: a publish or rollback changes the
active (pack, version, checksum) set and the next request builds a new engine, so
every process picks a publish up within seconds without a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from anyio import to_thread
from sqlalchemy.engine import Engine as DbEngine

from api.settings import EngineSettings
from casework import lists, lookups, model_store, rulepacks
from casework.db import transaction
from casework.errors import NotFound
from engine.engine import Engine
from engine.models import ModelError, Scorer
from engine.pack import CompiledPack, PackError, load_pack

_log = logging.getLogger("vigil.engines")

#: the active (pack, version, checksum) triples and (model, version) pairs an engine was built from
Fingerprint = tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, str], ...]]

#: the shipped packs compiled once per process (a compiled pack links into any number of engines)
_SHIPPED: dict[tuple[tuple[str, int], ...], list[CompiledPack]] = {}


@dataclass
class _TenantEngine:
    engine: Engine
    fingerprint: Fingerprint
    checked_at: float
    #: the managed lists the packs read (``list x = managed "name"``), refreshed at every check
    managed: frozenset[str] = frozenset()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def managed_lists(packs: list[CompiledPack]) -> frozenset[str]:
    return frozenset(
        decl.managed for pack in packs for decl in pack.checked.lists.values() if decl.managed is not None
    )


class EngineRegistry:
    def __init__(self, settings: EngineSettings, db: DbEngine) -> None:
        self.settings = settings
        self.db = db
        self._engines: dict[str, _TenantEngine] = {}
        self._compiled: dict[str, CompiledPack] = {}
        self._shipped: list[CompiledPack] | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._eval_locks: dict[str, threading.Lock] = {}

    def _shipped_packs(self) -> list[CompiledPack]:
        if self._shipped is None:
            files = sorted(Path(self.settings.rulepacks_dir).glob("*.rules"))
            key = tuple((str(f), f.stat().st_mtime_ns) for f in files)
            if key not in _SHIPPED:
                _SHIPPED[key] = [load_pack(f.read_text(encoding="utf-8"), str(f)) for f in files]
            self._shipped = _SHIPPED[key]
        return self._shipped

    def _active(self, tenant: str) -> tuple[dict[str, rulepacks.PackVersionView], dict[str, str]]:
        with transaction(self.db) as session:
            return rulepacks.active_versions(session, tenant), lookups.active_model_versions(session, tenant)

    def _attach_models(self, tenant: str, engine: Engine, packs: list[CompiledPack]) -> None:
        """Score each model the packs declare with its active version in the store (feature hash checked)."""
        wanted = {name: spec for pack in packs for name, spec in pack.models.items()}
        if not wanted:
            return
        with transaction(self.db) as session:
            for name, spec in sorted(wanted.items()):
                found = model_store.active_artifact(session, tenant, name)
                if found is None:
                    continue
                try:
                    engine.set_model(name, Scorer.from_bytes(found[1], expected_hash=spec.feature_hash))
                except ModelError as exc:
                    _log.error(
                        "active model not usable; its rules stay silent",
                        extra={"tenant": tenant, "model": name, "version": found[0], "error": str(exc)},
                    )

    def _list_items(self, tenant: str, names: frozenset[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        with transaction(self.db) as session:
            for name in sorted(names):
                try:
                    found[name] = lists.items(session, tenant, name)
                except NotFound:
                    found[name] = []
        return found

    async def _refresh_lists(self, tenant: str, entry: _TenantEngine) -> None:
        if entry.managed:
            for name, values in (await to_thread.run_sync(self._list_items, tenant, entry.managed)).items():
                entry.engine.set_list(name, values)

    def _build(
        self, tenant: str, active: dict[str, rulepacks.PackVersionView]
    ) -> tuple[Engine, frozenset[str]]:
        packs: list[CompiledPack] = []
        for view in active.values():
            compiled = self._compiled.get(view.checksum)
            if compiled is None:
                try:
                    compiled = load_pack(view.source or "", f"{view.pack}@{view.version}")
                except PackError as exc:
                    # stored versions checked when uploaded; a language change may break one
                    _log.error(
                        "active rulepack does not compile; left out",
                        extra={
                            "tenant": tenant,
                            "pack": view.pack,
                            "version": view.version,
                            "error": str(exc),
                        },
                    )
                    continue
                self._compiled[view.checksum] = compiled
            packs.append(compiled)
        if not active and tenant == self.settings.demo_tenant:
            packs = self._shipped_packs()
        engine = Engine(packs)
        self._attach_models(tenant, engine, packs)
        return engine, managed_lists(packs)

    async def get(self, tenant: str) -> Engine:
        """The tenant's engine, rebuilt first if its active packs changed since the last check."""
        current = self._engines.get(tenant)
        now = time.monotonic()
        if current is not None and now - current.checked_at < self.settings.poll_seconds:
            return current.engine
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            current = self._engines.get(tenant)
            if current is not None and time.monotonic() - current.checked_at < self.settings.poll_seconds:
                return current.engine
            active, models = await to_thread.run_sync(self._active, tenant)
            fingerprint: Fingerprint = (
                tuple(sorted((v.pack, v.version, v.checksum) for v in active.values())),
                tuple(sorted(models.items())),
            )
            if current is not None and current.fingerprint == fingerprint:
                await self._refresh_lists(tenant, current)
                current.checked_at = time.monotonic()
                return current.engine
            engine, managed = await to_thread.run_sync(self._build, tenant, active)
            entry = _TenantEngine(engine, fingerprint, time.monotonic(), managed)
            await self._refresh_lists(tenant, entry)
            replayed = await to_thread.run_sync(self._warm, tenant, engine)
            _log.info(
                "engine built",
                extra={
                    "tenant": tenant,
                    "packs": [f"{p}@{v}" for p, v, _ in fingerprint[0]],
                    "models": [f"{m}@{v}" for m, v in fingerprint[1]],
                    "replayed_events": replayed,
                },
            )
            self._engines[tenant] = entry
            return engine

    def _warm(self, tenant: str, engine: Engine) -> int:
        """Rebuild a new engine's detector state by replaying recent events in event-time order
        (their decisions are discarded: they were made and stored when the events came in)."""
        if self.settings.warm_hours <= 0 or not engine.packs:
            return 0
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=self.settings.warm_hours)
        with transaction(self.db) as session:
            events = lookups.recent_events(session, tenant, since, self.settings.warm_max_events)
        for start in range(0, len(events), 1000):
            engine.evaluate_many(events[start : start + 1000])
        return len(events)

    def lock(self, tenant: str) -> threading.Lock:
        """Held while a tenant's engine evaluates (in worker threads): engines are not thread-safe."""
        lock = self._eval_locks.get(tenant)
        if lock is None:
            lock = self._eval_locks.setdefault(tenant, threading.Lock())
        return lock

    def set_list(self, tenant: str, name: str, values: list[str]) -> None:
        """A list edit made by this process, seen by its engine at once (others at their next check)."""
        entry = self._engines.get(tenant)
        if entry is not None and name in entry.managed:
            entry.engine.set_list(name, values)

    def cached(self, tenant: str) -> Engine | None:
        entry = self._engines.get(tenant)
        return entry.engine if entry else None
