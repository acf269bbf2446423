"""Casework: where decisions are stored and investigated, and the audit trail that proves it.

Storage (SQLAlchemy models in ``models``) is kept apart from the wire Structs in
``views``; services take a ``Context`` (tenant, actor, request id, time) and never
cross tenants; pure rules (workflow, SLA, canonical hashing) have no I/O.
"""
