"""Detector state shared through Redis by many processes and machines.

``RedisStore`` has the interface of ``MemoryStore`` (``family(name, cls, retention)``)
and keeps one tenant's state under ``vigil:{tenant}:<family>:<key>`` (the braces are a
cluster hash tag: one tenant's keys live on one node). It is a write-behind cache
synchronised per batch (``Engine.evaluate_many`` runs of one kind):

1. the engine asks the pack's generated ``_keys_<kind>`` for every entity key of every
   state group the batch touches;
2. those entities are loaded in one round trip (a Lua script) into the in-memory
   families, which are emptied first;
3. the batch is evaluated in memory exactly as on ``MemoryStore``, so a later event of
   the batch sees the earlier ones;
4. one Lua script checks that no entity the batch read changed meanwhile (a version per
   entity) and, only then, writes the entities whose state changed, each with a new
   version and a ``PEXPIRE`` of the family's retention plus a margin, atomically.

On a version conflict (another process wrote an entity in between) nothing is written,
the in-memory state is discarded and the batch is loaded and evaluated again (bounded
retries), so the batches of all processes are serialisable: two processes interleaving
batches on the same cards get exactly the counts one process gets.

Entity state is compared by content (the exported bytes against the loaded bytes), so
the in-memory hot path has no dirty tracking at all: what changed is what is written.

Families whose state is not per key (``sharing == "global"``: the ``ring_size``
union-find, the ``hotspot`` fraud map) are one record each, kept in memory between
batches and reloaded only when their version moved; every batch that changes them
rewrites the record, so their cost grows with their size (see the benchmark).
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

#: KEYS: entities; ARGV: pairs (1-based index, version held in memory) for entities whose
#: state need not be sent when their version is still that one. Returns version, state
#: (nil when absent or held) for each key.
_LOAD = """
local held = {}
for i = 1, #ARGV, 2 do held[tonumber(ARGV[i])] = ARGV[i + 1] end
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HGET', key, 'v') or '0'
  out[2 * i - 1] = v
  if held[i] == v then
    out[2 * i] = false
  else
    out[2 * i] = redis.call('HGET', key, 's') or false
  end
end
return out
"""

#: KEYS: entities; ARGV: the expected version of each key, then triples (1-based index,
#: ttl ms, new state) of the keys to write. Either every version matches and the new
#: states are written (version + 1, PEXPIRE), or nothing is written. Returns 0 on
#: success, else the 1-based index of a conflicting key.
_COMMIT = """
local n = #KEYS
for i = 1, n do
  local v = redis.call('HGET', KEYS[i], 'v') or '0'
  if v ~= ARGV[i] then return i end
end
for j = n + 1, #ARGV, 3 do
  local i = tonumber(ARGV[j])
  local key = KEYS[i]
  redis.call('HSET', key, 'v', tonumber(ARGV[i]) + 1, 's', ARGV[j + 2])
  redis.call('PEXPIRE', key, ARGV[j + 1])
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
        self._held: dict[str, tuple[int, bytes | None]] = {}
        self._load = client.register_script(_LOAD)
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
        base = self.prefix + family.encode() + b":"
        return base + b"*" if key is _GLOBAL else base + b"k" + _encode_key(_canonical(key))

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
        for family, keys in touched.items():
            if family.sharing == "none":
                continue
            name = self._names[id(family)]
            if family.sharing == "global":
                entries.append((family, name, _GLOBAL))
            else:
                entries.extend((family, name, key) for key in keys)
        if not entries:
            return evaluate()
        rkeys = [self.redis_key(name, key) for _, name, key in entries]
        self.stats["batches"] += 1
        for attempt in range(self.retries + 1):
            before = self._load_entries(entries, rkeys)
            result = evaluate()
            if self._commit_entries(entries, rkeys, before):
                return result
            self.stats["conflicts"] += 1
            # discard what the batch did in memory: global records are reloaded next time
            for _, name, key in entries:
                if key is _GLOBAL:
                    self._held.pop(name, None)
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StateConflict(f"batch conflicted {self.retries + 1} times with other writers")

    def _load_entries(
        self, entries: list[tuple[StateFamily, str, Any]], rkeys: list[bytes]
    ) -> list[tuple[int, bytes | None]]:
        for family in self.families.values():
            if family.sharing == "key":
                family.reset()
        held_args: list[Any] = []
        for i, (_, name, key) in enumerate(entries, 1):
            if key is _GLOBAL and name in self._held:
                held_args += [i, self._held[name][0]]
        reply = self._load(keys=rkeys, args=held_args)
        before: list[tuple[int, bytes | None]] = []
        loaded = 0
        for i, (family, name, key) in enumerate(entries):
            version = int(reply[2 * i])
            data: bytes | None = reply[2 * i + 1] or None
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
        before: list[tuple[int, bytes | None]],
    ) -> bool:
        versions: list[int] = []
        writes: list[Any] = []
        written: list[tuple[str, int, bytes]] = []
        for i, ((family, name, key), (version, old)) in enumerate(zip(entries, before, strict=True), 1):
            versions.append(version)
            new = family.export_all() if key is _GLOBAL else family.export_key(key)
            if new == old:
                continue
            state = new if new is not None else b""
            writes += [i, int((family.retention + self.margin) * 1000), state]
            if key is _GLOBAL:
                written.append((name, version + 1, state))
        conflict = int(self._commit(keys=rkeys, args=versions + writes))
        if conflict:
            return False
        for name, version, state in written:
            self._held[name] = (version, state or None)
        self.stats["written"] += len(writes) // 3
        return True
