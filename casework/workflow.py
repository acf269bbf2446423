"""The case workflow as data: statuses, the moves between them, and what each move requires.

Pure functions; services call ``check_transition`` before they change a row, so an
invalid move is refused before anything is written.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from casework.errors import InvalidInput, InvalidTransition

Status = Literal["open", "investigating", "escalated", "resolved"]
Disposition = Literal["fraud_confirmed", "legitimate", "inconclusive"]
Priority = Literal["low", "normal", "high", "urgent"]
Severity = Literal["low", "medium", "high", "critical"]

STATUSES: Final[tuple[Status, ...]] = get_args(Status)
DISPOSITIONS: Final[tuple[Disposition, ...]] = get_args(Disposition)
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)

#: ranks for "the more urgent of two"
PRIORITY_RANK: Final[dict[str, int]] = {p: i for i, p in enumerate(PRIORITIES)}
SEVERITY_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}

#: statuses a case may move to from each status
TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    "open": frozenset({"investigating", "escalated", "resolved"}),
    "investigating": frozenset({"open", "escalated", "resolved"}),
    "escalated": frozenset({"investigating", "resolved"}),
    "resolved": frozenset({"open"}),
}

#: the label each disposition writes on every event of the case
DISPOSITION_LABEL: Final[dict[Disposition, str]] = {
    "fraud_confirmed": "fraud",
    "legitimate": "legitimate",
    "inconclusive": "inconclusive",
}


def parse_status(value: str) -> Status:
    for status in STATUSES:
        if status == value:
            return status
    raise InvalidInput(f"unknown case status {value!r}; statuses are {', '.join(STATUSES)}")


def parse_disposition(value: str) -> Disposition:
    for disposition in DISPOSITIONS:
        if disposition == value:
            return disposition
    raise InvalidInput(f"unknown disposition {value!r}; dispositions are {', '.join(DISPOSITIONS)}")


def parse_priority(value: str) -> Priority:
    for priority in PRIORITIES:
        if priority == value:
            return priority
    raise InvalidInput(f"unknown priority {value!r}; priorities are {', '.join(PRIORITIES)}")


def parse_severity(value: str) -> Severity:
    for severity in SEVERITIES:
        if severity == value:
            return severity
    raise InvalidInput(f"unknown severity {value!r}; severities are {', '.join(SEVERITIES)}")


def check_transition(current: Status, target: Status, disposition: Disposition | None) -> None:
    """Raise InvalidTransition unless ``current -> target`` is allowed with this disposition.

    Resolving needs a disposition; no other move takes one.
    """
    if current == target:
        raise InvalidTransition(f"case is already {current}")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        hint = ", ".join(sorted(allowed))
        raise InvalidTransition(
            f"cannot move a case from {current} to {target}; from {current} it can go to {hint}"
        )
    if target == "resolved" and disposition is None:
        raise InvalidTransition(
            f"resolving needs a disposition ({', '.join(DISPOSITIONS)}); the case stays {current}"
        )
    if target != "resolved" and disposition is not None:
        raise InvalidTransition(f"a disposition is only given when resolving, not when moving to {target}")


def require_active(status: Status, action: str) -> None:
    """Assignment, claiming and snoozing are for cases still being worked."""
    if status == "resolved":
        raise InvalidTransition(f"cannot {action} a resolved case; reopen it first")


def more_urgent(a: Priority, b: Priority) -> Priority:
    return a if PRIORITY_RANK[a] >= PRIORITY_RANK[b] else b


def more_severe(a: Severity, b: Severity) -> Severity:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b
