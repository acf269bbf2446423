"""Roles as fixed sets of scopes. Every route declares the one scope it needs."""

from __future__ import annotations

from typing import Final

EVENTS_WRITE: Final = "events:write"
DECISIONS_READ: Final = "decisions:read"
LABELS_WRITE: Final = "labels:write"
CASES_READ: Final = "cases:read"
CASES_WRITE: Final = "cases:write"
RULEPACKS_READ: Final = "rulepacks:read"
RULEPACKS_WRITE: Final = "rulepacks:write"
RULEPACKS_PUBLISH: Final = "rulepacks:publish"
LISTS_READ: Final = "lists:read"
LISTS_WRITE: Final = "lists:write"
MODELS_READ: Final = "models:read"
MODELS_WRITE: Final = "models:write"
AUDIT_READ: Final = "audit:read"
AUDIT_EXPORT: Final = "audit:export"
ADMIN: Final = "admin"

#: what each role may do; a token carries exactly its role's scopes
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "integrator": frozenset({EVENTS_WRITE, DECISIONS_READ, LABELS_WRITE}),
    "analyst": frozenset(
        {
            DECISIONS_READ,
            RULEPACKS_READ,
            RULEPACKS_WRITE,
            RULEPACKS_PUBLISH,
            LISTS_READ,
            LISTS_WRITE,
            MODELS_READ,
            MODELS_WRITE,
        }
    ),
    "investigator": frozenset({DECISIONS_READ, LABELS_WRITE, CASES_READ, CASES_WRITE, LISTS_READ}),
    "compliance": frozenset({DECISIONS_READ, CASES_READ, AUDIT_READ, AUDIT_EXPORT}),
    "admin": frozenset({ADMIN, AUDIT_READ}),
}

ALL_SCOPES: Final[frozenset[str]] = frozenset().union(*ROLE_SCOPES.values())


def scopes_for(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())
