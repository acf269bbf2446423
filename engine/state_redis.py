"""Detector state shared through Redis by many processes and machines.

``RedisStore`` has the interface of ``MemoryStore`` (``family(name, cls, retention)``)
and keeps one tenant's state under ``vigil:{tenant}:<family>:<key>`` (the braces are a
cluster hash tag: one tenant's keys live on one node). Each value is an 8-byte version
followed by the entity's msgpack record. The store is a write-behind cache synchronised
once per ``Engine.evaluate_many`` call (a batch):

1. the engine asks each pack's generated ``_keys_<kind>`` for the entity keys of every
   state group the batch touches;
2. the per-key families are emptied and those entities loaded in one round trip (``MGET``);
3. the batch is evaluated in memory exactly as on ``MemoryStore``, so a later event of
   the batch sees the earlier ones;
4. one Lua script checks that no entity the batch loaded changed meanwhile (its version)
   and only then sets the entities whose state changed, each with the next version and an
   expiry of the family's retention plus a margin (``SET ... PX``), all or nothing.

On a version conflict (another process wrote one of the entities in between) nothing is
written, the batch's in-memory changes are discarded, and the batch is loaded and
evaluated again (bounded retries with a little random back-off): the batches of all
processes are serialisable, so two processes interleaving batches on the same cards get
exactly the counts one process gets. A batch that raises writes nothing either.

What changed is found by content, the exported bytes against the loaded ones, so the
in-memory hot path (``observe``/``feed``) has no dirty tracking and costs nothing more on
``MemoryStore``; it also catches changes made outside ``observe`` (label syncing, sweeps).

Limitations:

* Families whose state is not per key (``sharing == "global"``: the ``ring_size`` link
  graph, the ``hotspot`` fraud map) are one record each, kept in memory between batches
  and reloaded only when their version moved. Every batch that changes them rewrites the
  whole record (cost grows with its size), and concurrent batches of a pack using them
  always conflict on it, so such packs are serialised across processes (correct, slower).
* Labels live in each engine's context: every process must be given the labels; the
  ``entity_risk`` and ``hotspot`` records take which events are fraud from the labels of
  the engine that loads them.
* Expiry is wall-clock time (Redis ``PX``) from the entity's last write, while the memory
  store sweeps idle entities by event time now and then; windowed answers are the same,
  but a history detector's entity idle for a year may be remembered longer on one store.
* Family names carry the pack's group numbers (``cards:_g0``): a pack version that
  reorders its detector calls starts those groups afresh.
* ``Engine.evaluate`` (one event) costs two round trips per event; use ``evaluate_many``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import redis

from engine.detectors.base import StateFamily
from engine.detectors.common import LATE_HORIZON
from engine.state import MemoryStore

T = TypeVar("T")

#: KEYS: entities, those to write first; ARGV: the version each key had when loaded (its
#: value's first 8 bytes, empty when absent), then pairs (ttl ms, new value) of the first keys.
#: Either every version matches and the new values are set with their expiry, or nothing
#: is written. Returns 0 on success, else the 1-based index of a conflicting key.
_COMMIT = """
local n = #KEYS
for i = 1, n do
  if redis.call('GETRANGE', KEYS[i], 0, 7) ~= ARGV[i] then return i end
end
local i = 1
for j = n + 1, #ARGV, 2 do
  redis.call('SET', KEYS[i], ARGV[j + 1], 'PX', ARGV[j])
  i = i + 1
end
return 0
"""

_GLOBAL = object()
_encode_key = msgspec.msgpack.Encoder().encode


def store_for(tenant: str, url: str | None = None) -> MemoryStore | RedisStore:
    """The tenant's store: Redis at ``url`` (default ``VIGIL_REDIS_URL``), else in memory."""
    url = url if url is not None else os.environ.get("VIGIL_REDIS_URL", "")
    return RedisStore.from_url(url, tenant) if url else MemoryStore()


class StateConflict(RuntimeError):
    """A batch kept conflicting with other processes' writes and was given up."""


def _canonical(key: Any) -> Any:
    """Keys equal in Python (5 and 5.0) name the same Redis key."""
    if isinstance(key, float) and key.is_integer():
        return int(key)
    if isinstance(key, tuple | list):
        return [_canonical(k) for k in key]
    return key


class RedisStore:
    """One tenant's detector state in Redis, loaded and written back once per batch."""

    def __init__(
        self,
        client: redis.Redis,
        tenant: str,
        *,
        margin: float = LATE_HORIZON,
        retries: int = 50,
    ) -> None:
        self.client = client
        self.tenant = tenant
        self.prefix = f"vigil:{{{tenant}}}:".encode()
        #: seconds added to a family's retention for its keys' expiry
        self.margin = margin
        self.retries = retries
        self.families: dict[str, StateFamily] = {}
        self._names: dict[int, str] = {}
        #: global families: (version, bytes) of the record held in memory
        self._held: dict[str, tuple[bytes, bytes | None]] = {}
        #: Redis key names by family and entity key, for the entities seen lately
        self._rkeys: dict[str, dict[Any, bytes]] = {}
        self._commit = client.register_script(_COMMIT)
        #: batches run, conflicts met (each one re-ran a batch), entities loaded and written
        self.stats = {"batches": 0, "conflicts": 0, "loaded": 0, "written": 0}

    @classmethod
    def from_url(cls, url: str, tenant: str, **options: Any) -> RedisStore:
        return cls(redis.Redis.from_url(url), tenant, **options)

    def family(self, name: str, cls: type[StateFamily], retention: float) -> StateFamily:
        """The state of one group, created on first use; retention only grows."""
        if cls.sharing == "key" and cls.export_key is StateFamily.export_key:
            raise NotImplementedError(f"{cls.__name__} cannot be kept in a shared store (no export_key)")
        if cls.sharing == "global" and cls.export_all is StateFamily.export_all:
            raise NotImplementedError(f"{cls.__name__} cannot be kept in a shared store (no export_all)")
        existing = self.families.get(name)
        if existing is not None and isinstance(existing, cls):
            existing.retention = max(existing.retention, retention)
            return existing
        state = cls(retention)
        self.families[name] = state
        self._names[id(state)] = name
        return state

    def entity_count(self) -> int:
        """Entities held in memory now (the last batch's); Redis holds the rest."""
        return sum(f.entity_count() for f in self.families.values())

    def redis_key(self, family: str, key: Any) -> bytes:
        """``vigil:{tenant}:<family>:`` then ``s<text>`` for a string key, ``m<msgpack>`` for others."""
        base = self.prefix + family.encode() + b":"
        if key is _GLOBAL:
            return base + b"*"
        if type(key) is str:
            return base + b"s" + key.encode()
        return base + b"m" + _encode_key(_canonical(key))

    def clear(self) -> int:
        """Delete every key of this tenant (tests, replays from empty); how many were deleted."""
        deleted = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=self.prefix + b"*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(self.client.unlink(*batch))  # type: ignore[arg-type]
                batch = []
        if batch:
            deleted += int(self.client.unlink(*batch))  # type: ignore[arg-type]
        self._held.clear()
        for family in self.families.values():
            family.reset()
        return deleted

    # ---- one batch

    def run_batch(self, touched: dict[StateFamily, set[Any]], evaluate: Callable[[], T]) -> T:
        """Load the touched entities, ``evaluate()`` in memory, write back; retry on conflict."""
        entries: list[tuple[StateFamily, str, Any]] = []
        rkeys: list[bytes] = []
        for family, keys in touched.items():
            sharing = family.sharing
            if sharing == "none":
                continue
            name = self._names[id(family)]
            if sharing == "global":
                entries.append((family, name, _GLOBAL))
                rkeys.append(self.redis_key(name, _GLOBAL))
                continue
            cache = self._rkeys.get(name)
            if cache is None or len(cache) > 100_000:
                cache = self._rkeys[name] = {}
            base = self.prefix + name.encode() + b":s"
            for key in keys:
                rkey = cache.get(key)
                if rkey is None:
                    rkey = cache[key] = base + key.encode() if type(key) is str else self.redis_key(name, key)
                rkeys.append(rkey)
                entries.append((family, name, key))
        if not entries:
            return evaluate()
        self.stats["batches"] += 1
        for attempt in range(self.retries + 1):
            try:
                before = self._load_entries(entries, rkeys)
                result = evaluate()
                if self._commit_entries(entries, rkeys, before):
                    return result
            except BaseException:
                self._discard(entries)  # nothing was written: what the batch did is forgotten
                raise
            self.stats["conflicts"] += 1
            self._discard(entries)
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StateConflict(f"batch conflicted {self.retries + 1} times with other writers")

    def _discard(self, entries: list[tuple[StateFamily, str, Any]]) -> None:
        """Forget the in-memory changes of a batch that was not written: global records are
        reloaded next time (per-key families are emptied before every batch anyway)."""
        for _, name, key in entries:
            if key is _GLOBAL:
                self._held.pop(name, None)

    def _load_entries(
        self, entries: list[tuple[StateFamily, str, Any]], rkeys: list[bytes]
    ) -> list[tuple[bytes, bytes | None]]:
        """Empty the per-key families and load the entities (one MGET); their versions and states."""
        for family in self.families.values():
            if family.sharing == "key":
                family.reset()
        values: list[bytes | None] = self.client.mget(rkeys)  # type: ignore[assignment]
        before: list[tuple[bytes, bytes | None]] = []
        loaded = 0
        for (family, name, key), value in zip(entries, values, strict=True):
            if value is None:
                version, data = b"", None
            else:
                version, data = value[:8], value[8:] or None
            if key is _GLOBAL:
                held = self._held.get(name)
                if held is not None and held[0] == version:
                    before.append(held)
                    continue
                family.import_all(data)
                self._held[name] = (version, data)
            elif data is not None:
                family.import_key(key, data)
            loaded += data is not None
            before.append((version, data))
        self.stats["loaded"] += loaded
        return before

    def _commit_entries(
        self,
        entries: list[tuple[StateFamily, str, Any]],
        rkeys: list[bytes],
        before: list[tuple[bytes, bytes | None]],
    ) -> bool:
        """Write the changed entities if no entity changed in Redis since it was loaded."""
        # the keys to write go first, each with its expected version and (ttl, new value)
        order: list[int] = []
        keep: list[int] = []
        writes: list[Any] = []
        written: list[tuple[str, bytes, bytes]] = []
        ttls: dict[str, int] = {}
        for i, ((family, name, key), (version, old)) in enumerate(zip(entries, before, strict=True)):
            new = family.export_all() if key is _GLOBAL else family.export_key(key)
            if new == old:
                keep.append(i)
                continue
            order.append(i)
            ttl = ttls.get(name)
            if ttl is None:
                ttl = ttls[name] = int((family.retention + self.margin) * 1000)
            next_version = (int.from_bytes(version, "big") + 1 if version else 1).to_bytes(8, "big")
            writes += [ttl, next_version + (new or b"")]
            if key is _GLOBAL:
                written.append((name, next_version, new or b""))
        order += keep
        versions = [before[i][0] for i in order]
        conflict = int(self._commit(keys=[rkeys[i] for i in order], args=versions + writes))
        if conflict:
            return False
        for name, version, state in written:
            self._held[name] = (version, state or None)
        self.stats["written"] += len(writes) // 2
        return True
