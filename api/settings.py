"""Settings of the HTTP service, one class per concern, read from the environment.

Unset variables give the embedded defaults: an SQLite file under ``var/``, no Redis,
an Ed25519 signing key generated under ``var/`` on first start.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from casework.settings import PROJECT_ROOT, database_url


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: SQLAlchemy URL; ``VIGIL_DATABASE_URL`` or the embedded SQLite file
    url: str

    @classmethod
    def from_env(cls) -> DatabaseSettings:
        return cls(url=database_url())


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: ``VIGIL_REDIS_URL``; None runs everything in-process
    url: str | None = None

    @classmethod
    def from_env(cls) -> RedisSettings:
        return cls(url=_env("VIGIL_REDIS_URL") or None)


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: PEM file of the Ed25519 key that signs access tokens; created when missing
    signing_key_path: Path
    issuer: str = "vigil"
    audience: str = "vigil-api"
    #: lifetime of an access token in seconds
    token_ttl: int = 900

    @classmethod
    def from_env(cls) -> AuthSettings:
        default_key = PROJECT_ROOT / "var" / "keys" / "token-signing.pem"
        return cls(
            signing_key_path=Path(_env("VIGIL_TOKEN_KEY", str(default_key))),
            issuer=_env("VIGIL_TOKEN_ISSUER", "vigil"),
            audience=_env("VIGIL_TOKEN_AUDIENCE", "vigil-api"),
            token_ttl=_env_int("VIGIL_TOKEN_TTL", 900),
        )


class AuditSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: PEM file of the Ed25519 key that signs audit export manifests; created (with its
    #: public half beside it, ``.pub``) when missing
    export_key_path: Path

    @classmethod
    def from_env(cls) -> AuditSettings:
        default_key = PROJECT_ROOT / "var" / "keys" / "audit-export.pem"
        return cls(export_key_path=Path(_env("VIGIL_AUDIT_KEY", str(default_key))))


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: folder of the shipped rulepacks (the demo tenant's packs until it publishes its own)
    rulepacks_dir: Path
    #: the tenant that falls back to the shipped rulepacks
    demo_tenant: str = "demo"
    #: how often (seconds) a tenant's engine checks the store for a publish
    poll_seconds: float = 2.0
    #: most events in one batch request
    max_batch: int = 1000
    #: a new engine (start, publish) replays the events received in this many hours to
    #: rebuild its detector state; 0 starts empty
    warm_hours: float = 24.0
    #: at most this many events are replayed
    warm_max_events: int = 200_000

    @classmethod
    def from_env(cls) -> EngineSettings:
        return cls(
            rulepacks_dir=Path(_env("VIGIL_RULEPACKS_DIR", str(PROJECT_ROOT / "rulepacks"))),
            demo_tenant=_env("VIGIL_DEMO_TENANT", "demo"),
            poll_seconds=_env_float("VIGIL_ENGINE_POLL_SECONDS", 2.0),
            max_batch=_env_int("VIGIL_MAX_BATCH", 1000),
            warm_hours=_env_float("VIGIL_ENGINE_WARM_HOURS", 24.0),
            warm_max_events=_env_int("VIGIL_ENGINE_WARM_MAX_EVENTS", 200_000),
        )


class LogSettings(msgspec.Struct, frozen=True, kw_only=True):
    level: str = "INFO"

    @classmethod
    def from_env(cls) -> LogSettings:
        return cls(level=_env("VIGIL_LOG_LEVEL", "INFO").upper())


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Requests per second and bucket size, per client (or user) and per tenant; 0 turns one off."""

    client_rate: float = 200.0
    client_burst: float = 400.0
    tenant_rate: float = 1000.0
    tenant_burst: float = 2000.0
    #: Redis key prefix of the shared buckets
    prefix: str = "vigil:rate:"

    @classmethod
    def from_env(cls) -> RateLimitSettings:
        return cls(
            client_rate=_env_float("VIGIL_RATE_CLIENT_PER_SECOND", 200.0),
            client_burst=_env_float("VIGIL_RATE_CLIENT_BURST", 400.0),
            tenant_rate=_env_float("VIGIL_RATE_TENANT_PER_SECOND", 1000.0),
            tenant_burst=_env_float("VIGIL_RATE_TENANT_BURST", 2000.0),
        )


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    engine: EngineSettings
    log: LogSettings
    rate_limit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    audit: AuditSettings = msgspec.field(
        default_factory=lambda: AuditSettings(
            export_key_path=PROJECT_ROOT / "var" / "keys" / "audit-export.pem"
        )
    )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database=DatabaseSettings.from_env(),
            redis=RedisSettings.from_env(),
            auth=AuthSettings.from_env(),
            engine=EngineSettings.from_env(),
            log=LogSettings.from_env(),
            audit=AuditSettings.from_env(),
            rate_limit=RateLimitSettings.from_env(),
        )
