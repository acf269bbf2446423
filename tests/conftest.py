"""Shared fixtures: the real PostgreSQL and Redis that `make test` starts.

`scripts/services.sh` starts both and the Makefile exports their URLs as
VIGIL_TEST_DATABASE_URL and VIGIL_TEST_REDIS_URL. A test that needs a service it
cannot reach is skipped on a developer's machine but fails when CI=true, so CI
can never go green by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


def require_service(env_var: str) -> str:
    """The URL in ``env_var`` if its server accepts connections; else skip (fail under CI)."""
    url = os.environ.get(env_var, "")
    if not url:
        problem = f"{env_var} is not set (run the suite through `make test`)"
    elif not _reachable(url):
        problem = f"{env_var}={url} does not accept connections"
    else:
        return url
    if under_ci():
        pytest.fail(f"{problem}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL (postgresql+psycopg://) of the test PostgreSQL server."""
    return require_service("VIGIL_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis server."""
    return require_service("VIGIL_TEST_REDIS_URL")
