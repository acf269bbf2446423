"""The servers `make test` starts answer real protocol requests, not just TCP."""

from __future__ import annotations

import psycopg
import redis


def test_postgres_answers(postgres_url: str) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None and row[0] >= 130000


def test_redis_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        client.set("vigil:test:ping", "1", ex=5)
        assert client.get("vigil:test:ping") == b"1"
    finally:
        client.close()
