"""Token-bucket rate limits per API client (or user) and per tenant.

Each bucket holds up to ``burst`` requests and refills at ``rate`` per second. With
Redis configured the buckets live there (one Lua script call per bucket, atomic), so
every API process shares them; without it they live in this process.
"""

from __future__ import annotations

import math
import time
from typing import Any

from api.settings import RateLimitSettings

_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(retry)
"""


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, redis_url: str | None) -> None:
        self.settings = settings
        self._local: dict[str, tuple[float, float]] = {}
        self._redis: Any = None
        self._script: Any = None
        if redis_url and self.enabled:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(redis_url)
            self._script = self._redis.register_script(_SCRIPT)

    @property
    def enabled(self) -> bool:
        return self.settings.client_rate > 0 or self.settings.tenant_rate > 0

    def _take_local(self, key: str, rate: float, burst: float, now: float) -> float:
        tokens, last = self._local.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - last) * rate)
        if tokens >= 1:
            self._local[key] = (tokens - 1, now)
            return 0.0
        self._local[key] = (tokens, now)
        return (1 - tokens) / rate

    async def _take(self, key: str, rate: float, burst: float) -> float:
        now = time.time()
        if self._script is not None:
            result = await self._script(keys=[f"{self.settings.prefix}{key}"], args=[rate, burst, now])
            return float(result)
        return self._take_local(key, rate, burst, now)

    async def acquire(self, tenant: str, subject: str) -> int | None:
        """None when the request may go on, else the seconds to wait (for ``Retry-After``)."""
        s = self.settings
        waits = []
        if s.client_rate > 0:
            waits.append(await self._take(f"c:{tenant}:{subject}", s.client_rate, s.client_burst))
        if s.tenant_rate > 0 and max(waits, default=0.0) == 0:
            waits.append(await self._take(f"t:{tenant}", s.tenant_rate, s.tenant_burst))
        wait = max(waits, default=0.0)
        return max(1, math.ceil(wait)) if wait > 0 else None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
