"""Domain errors: what a caller did wrong, in words an investigator or integrator can act on.

``api/`` maps each class to an HTTP status through ``code``; nothing here knows HTTP.
"""

from __future__ import annotations

from typing import ClassVar


class CaseworkError(Exception):
    """Base of every domain error; ``str(error)`` is the message to show."""

    code: ClassVar[str] = "casework_error"


class NotFound(CaseworkError):
    """The object does not exist in this tenant (another tenant's object is also "not found")."""

    code = "not_found"


class InvalidTransition(CaseworkError):
    """The case workflow does not allow this action from the case's current state."""

    code = "invalid_transition"


class InvalidInput(CaseworkError):
    """An argument breaks a domain rule (unknown disposition, empty note, snooze in the past...)."""

    code = "invalid_input"


class Conflict(CaseworkError):
    """The action collides with existing state (a version that exists, a case claimed by someone else)."""

    code = "conflict"


class ExportError(CaseworkError):
    """An audit export could not be written or read (missing file, bad key)."""

    code = "export_error"
