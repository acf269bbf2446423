"""Detector state stores. The in-memory store is the embedded default."""

from __future__ import annotations

from engine.detectors.base import StateFamily


class MemoryStore:
    """Holds every state family of one tenant in this process."""

    def __init__(self) -> None:
        self.families: dict[str, StateFamily] = {}

    def family(self, name: str, cls: type[StateFamily], retention: float) -> StateFamily:
        """The state of one group, created on first use; retention only grows."""
        existing = self.families.get(name)
        if existing is not None and isinstance(existing, cls):
            existing.retention = max(existing.retention, retention)
            return existing
        state = cls(retention)
        self.families[name] = state
        return state

    def entity_count(self) -> int:
        return sum(f.entity_count() for f in self.families.values())
