"""Webhook signatures per the Standard Webhooks specification (https://www.standardwebhooks.com).

A secret is ``whsec_`` followed by the base64 of 24 random bytes. Every request carries
``webhook-id`` (the same on every try of a message), ``webhook-timestamp`` (seconds since
the epoch, at the time of the try) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`` for each active secret, separated by spaces, so a receiver that
holds either the old or the new secret verifies during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from casework.errors import InvalidInput

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh random secret, ``whsec_`` + base64 of 24 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise InvalidInput("a webhook secret is whsec_ followed by base64") from None
    if len(key) < SECRET_BYTES:
        raise InvalidInput(f"a webhook secret holds at least {SECRET_BYTES} random bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``msg_id.timestamp.body`` under ``secret``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(msg_id: str, timestamp: int, body: bytes, active: Iterable[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per active secret."""
    signatures = " ".join(signature(s, msg_id, timestamp, body) for s in active)
    if not signatures:
        raise InvalidInput("an endpoint needs at least one active secret")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
