"""Canonical JSON and the audit hash: the same entry always hashes to the same bytes.

Canonical form: UTF-8 JSON with object keys sorted and no whitespace (msgspec with
``order="sorted"``); times are written by ``canonical_time`` as strings before they
get here, so no database or time-zone setting can change the bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

#: ``prev_hash`` of the first entry of every tenant's chain
GENESIS_HASH = "0" * 64

_encoder = msgspec.json.Encoder(order="sorted")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8."""
    return _encoder.encode(value)


def canonical_time(value: dt.datetime) -> str:
    """UTC ISO 8601 with exactly six fractional digits and a ``Z``.

    Naive datetimes are taken as UTC (SQLite hands them back naive).
    """
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_canonical_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def chain_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) over the canonical JSON of ``fields`` plus ``prev_hash``."""
    if "prev_hash" in fields and fields["prev_hash"] != prev_hash:
        raise ValueError("fields carry a prev_hash different from the one given")
    document = {**fields, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(document)).hexdigest()
