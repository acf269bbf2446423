"""The Decision: what the engine says about one event, with its reasons and effects.

These Structs hold only strings, numbers and tuples of each other, so they can never
be part of a reference cycle: ``gc=False`` spares the collector from scanning the
hundreds of thousands a batch creates.

Effects are data (a tagged union): the engine never performs them; ``casework``
opens cases and the delivery workers send notifications.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Outcome = Literal["approve", "review", "block"]
Verdict = Literal["allow", "review", "block"]
Severity = Literal["low", "medium", "high", "critical"]
RiskLevel = Literal["low", "medium", "high", "critical"]
Priority = Literal["low", "normal", "high", "urgent"]

#: outcomes from the mildest to the most severe
OUTCOME_RANK: dict[str, int] = {"approve": 0, "review": 1, "block": 2}


class PackRef(msgspec.Struct, frozen=True, gc=False):
    name: str
    version: str


class Hit(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One rule whose condition held for the event."""

    rule: str
    severity: Severity
    score: float
    tags: tuple[str, ...] = ()
    explanation: tuple[str, ...] = ()
    verdict: Verdict | None = None
    id: str | None = None
    message: str | None = None


class OpenCase(msgspec.Struct, frozen=True, tag="open_case", tag_field="type", gc=False):
    """Open a case in ``queue`` or attach the event to the open one with the same key."""

    queue: str
    key: str
    priority: Priority = "normal"
    rule: str = ""
    severity: Severity = "medium"


class Notify(msgspec.Struct, frozen=True, tag="notify", tag_field="type", gc=False):
    """Send the hit to a named integration (webhook, Slack, email)."""

    integration: str
    rule: str = ""


Effect = OpenCase | Notify


class Decision(msgspec.Struct, frozen=True, gc=False):
    """The engine's answer for one event (one line of ``vigil score``)."""

    event_id: str
    outcome: Outcome
    score: float
    risk_level: RiskLevel
    verdict: Verdict | None = None
    hits: tuple[Hit, ...] = ()
    shadow_hits: tuple[Hit, ...] = ()
    effects: tuple[Effect, ...] = ()
    pack: PackRef | None = None


def risk_level(score: float, medium: float = 25, high: float = 50, critical: float = 80) -> RiskLevel:
    """Map a score to its risk level with the pack's thresholds."""
    if score >= critical:
        return "critical"
    if score >= high:
        return "high"
    if score >= medium:
        return "medium"
    return "low"
