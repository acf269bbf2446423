"""What the routes reach: the store, the token service, the tenant engines and the metrics.

Built once by ``create_app`` and kept on ``app.state.services``. The casework layer is
synchronous SQLAlchemy; ``in_tx`` runs a function in one transaction on a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from anyio import to_thread
from sqlalchemy.orm import Session

from api.auth.active import ActiveCheck
from api.auth.tokens import RevokedTokens, TokenService
from api.engines import EngineRegistry
from api.observability import Metrics
from api.ratelimit import RateLimiter
from api.settings import Settings
from casework.db import create_engine, transaction

P = ParamSpec("P")
T = TypeVar("T")


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = create_engine(settings.database.url)
        self.tokens = TokenService(settings.auth, RevokedTokens(settings.redis.url))
        self.engines = EngineRegistry(settings.engine, self.db)
        self.metrics = Metrics()
        self.rate_limiter = RateLimiter(settings.rate_limit, settings.redis.url)
        self.active = ActiveCheck(self.db)

    async def in_tx(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(session, *args, **kwargs)`` in one transaction, on a worker thread."""

        def work() -> T:
            with transaction(self.db) as session:
                return fn(session, *args, **kwargs)

        return await to_thread.run_sync(work)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await to_thread.run_sync(fn, *args)

    async def close(self) -> None:
        await self.rate_limiter.close()
        self.db.dispose()
