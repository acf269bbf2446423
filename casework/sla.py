"""SLA due times: how long a case may wait, from its severity and priority, per queue.

A queue's policy gives minutes per severity and a factor per priority; the due time
is ``opened_at + minutes[severity] * factor[priority]``. Queues without a policy use
``DEFAULT_POLICY``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from casework.errors import InvalidInput
from casework.workflow import PRIORITIES, SEVERITIES, Priority, Severity


class SlaPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Minutes to act on a case per severity, scaled by a factor per priority."""

    severity_minutes: dict[str, int] = msgspec.field(
        default_factory=lambda: {"critical": 60, "high": 4 * 60, "medium": 24 * 60, "low": 72 * 60}
    )
    priority_factor: dict[str, float] = msgspec.field(
        default_factory=lambda: {"urgent": 0.25, "high": 0.5, "normal": 1.0, "low": 2.0}
    )

    def __post_init__(self) -> None:
        missing: list[str] = [s for s in SEVERITIES if s not in self.severity_minutes]
        missing += [p for p in PRIORITIES if p not in self.priority_factor]
        if missing:
            raise InvalidInput(f"SLA policy lacks {', '.join(missing)}")
        unknown = set(self.severity_minutes) - set(SEVERITIES) | set(self.priority_factor) - set(PRIORITIES)
        if unknown:
            raise InvalidInput(f"SLA policy names unknown levels: {', '.join(sorted(unknown))}")
        if any(m <= 0 for m in self.severity_minutes.values()) or any(
            f <= 0 for f in self.priority_factor.values()
        ):
            raise InvalidInput("SLA minutes and factors must be positive")


DEFAULT_POLICY = SlaPolicy()


def sla_due(opened_at: dt.datetime, severity: Severity, priority: Priority, policy: SlaPolicy) -> dt.datetime:
    """When a case opened at ``opened_at`` must have been acted on."""
    minutes = policy.severity_minutes[severity] * policy.priority_factor[priority]
    return opened_at + dt.timedelta(minutes=minutes)


def policy_from_json(data: Any) -> SlaPolicy:
    """A stored policy (``None`` means the default); invalid documents raise InvalidInput."""
    if data is None:
        return DEFAULT_POLICY
    try:
        return msgspec.convert(data, SlaPolicy)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid SLA policy: {exc}") from None
