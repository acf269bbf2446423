"""Client secrets and passwords: generated with ``secrets``, stored only as argon2 hashes."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Client secrets are 256 random bits, so the hash needs no memory-hard cost to resist
# guessing; light parameters keep the token endpoint fast.
_client_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

#: a hash to verify against when the client does not exist, so timing does not tell
_DUMMY_HASH = _client_hasher.hash(secrets.token_urlsafe(32))


def new_client_id() -> str:
    return "vc_" + secrets.token_hex(12)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _client_hasher.hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    try:
        return _client_hasher.verify(secret_hash or _DUMMY_HASH, secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False
