"""JWT access tokens: issued by the token endpoint, signed with Ed25519, checked on every request.

The signing key is an Ed25519 key in a PEM file (created on first start when missing);
its public half is served as a JWK Set at ``/.well-known/jwks.json`` under its ``kid``
(the RFC 7638 thumbprint). Tokens are signed with the fully specified EdDSA algorithm
``Ed25519`` (RFC 9864). Revoked token ids are kept until the token would have expired
anyway: in Redis when configured (shared by every replica), else in this process.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import msgspec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from api.settings import AuthSettings

ALGORITHM = "Ed25519"


class TokenError(Exception):
    """The bearer token is missing, malformed, expired, revoked or not ours."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a valid token speaks for."""

    tenant: str
    #: ``client:<id>`` or ``user:<id>``
    subject: str
    role: str
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    client_id: str | None = None

    @property
    def actor_type(self) -> str:
        return self.subject.split(":", 1)[0]

    @property
    def actor_id(self) -> str:
        return self.subject.split(":", 1)[1]


def load_or_create_key(path: Path) -> OKPKey:
    """The Ed25519 signing key in ``path``; a new one is written (mode 0600) when there is none."""
    if path.exists():
        key = OKPKey.import_key(path.read_bytes())
    else:
        key = OKPKey.generate_key("Ed25519", private=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.as_pem(private=True))
    return OKPKey.import_key(key.as_dict(private=True), parameters={"kid": key.thumbprint()})


class RevokedTokens:
    """Token ids revoked before their expiry."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def revoke(self, token_id: str, expires_at: float) -> None:
        ttl = max(1, int(expires_at - time.time()) + 1)
        if self._redis is not None:
            self._redis.set(f"vigil:revoked:{token_id}", b"1", ex=ttl)
            return
        with self._lock:
            now = time.time()
            for stale in [k for k, exp in self._local.items() if exp < now]:
                del self._local[stale]
            self._local[token_id] = expires_at

    def is_revoked(self, token_id: str) -> bool:
        if self._redis is not None:
            return bool(self._redis.exists(f"vigil:revoked:{token_id}"))
        return token_id in self._local


class TokenService:
    def __init__(self, settings: AuthSettings, revoked: RevokedTokens) -> None:
        self.settings = settings
        self.key = load_or_create_key(settings.signing_key_path)
        self.kid = str(self.key.kid)
        self.revoked = revoked
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            tenant={"essential": True},
        )

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": [public]}

    def issue(
        self, *, tenant: str, subject: str, role: str, scopes: frozenset[str], client_id: str | None = None
    ) -> tuple[str, Principal]:
        now = int(time.time())
        principal = Principal(
            tenant=tenant,
            subject=subject,
            role=role,
            scopes=scopes,
            token_id=secrets.token_urlsafe(16),
            expires_at=now + self.settings.token_ttl,
            client_id=client_id,
        )
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": subject,
            "tenant": tenant,
            "role": role,
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "nbf": now,
            "exp": principal.expires_at,
            "jti": principal.token_id,
        }
        if client_id:
            claims["client_id"] = client_id
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM]), principal

    def verify(self, token: str) -> Principal:
        """The principal of a valid, unrevoked token; TokenError otherwise."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                decoded = jwt.decode(token, self.key, algorithms=[ALGORITHM])
            if decoded.header.get("kid") != self.kid:
                raise TokenError("the token was signed with an unknown key")
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise TokenError(f"invalid token: {exc}") from None
        claims = decoded.claims
        principal = Principal(
            tenant=str(claims["tenant"]),
            subject=str(claims["sub"]),
            role=str(claims.get("role", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            client_id=claims.get("client_id"),
        )
        if self.revoked.is_revoked(principal.token_id):
            raise TokenError("the token has been revoked")
        return principal
