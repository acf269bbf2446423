"""Where the store is: ``VIGIL_DATABASE_URL``, or an SQLite file under ``var/`` when unset."""

from __future__ import annotations

import os
from pathlib import Path

#: the checkout's root; ``var/`` and ``migrations/`` live here
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "vigil.sqlite3"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the explicit one, else the environment's, else the embedded SQLite file."""
    if explicit:
        return normalise_url(explicit)
    from_env = os.environ.get("VIGIL_DATABASE_URL", "").strip()
    if from_env:
        return normalise_url(from_env)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here, not SQLAlchemy's default psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
