"""Sliding-window rate limits (per client address, per case number, per sender).

`SlidingWindow` counts in this process's memory. `Limiter` is what the gateway uses: with Redis
(`redis_url`) every gateway process counts in the same window, so N processes still allow the
setting and not N times it; without Redis, or while Redis cannot be reached, it counts in memory
(a limit is a guard, not a reason to refuse service).
"""
from __future__ import annotations

import logging
import secrets
import time
from collections import deque

from .shared import DEFAULT_REDIS_PREFIX

log = logging.getLogger("hotline.ratelimit")

# one sorted set per key: members are hits scored by their time; answers the wait (ms), 0 = allowed
_HIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
if redis.call('zcard', KEYS[1]) >= limit then
  local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.floor(tonumber(oldest[2]) + window - now))
end
redis.call('zadd', KEYS[1], now, ARGV[4])
redis.call('pexpire', KEYS[1], math.ceil(window))
return 0
"""


class SlidingWindow:
    def __init__(self, limit: int, window_s: float, clock=time.monotonic, max_keys: int = 100_000):
        self.limit = limit
        self.window = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float:
        """Count one attempt; returns 0 when allowed, else the seconds until one is allowed again."""
        now = self.clock()
        q = self._hits.get(key)
        if q is None:
            if len(self._hits) >= self.max_keys:
                self._evict(now)
            q = self._hits[key] = deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= self.limit:
            return max(0.001, q[0] + self.window - now)
        q.append(now)
        return 0.0

    def _evict(self, now: float) -> None:
        stale = [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full of live keys: drop the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]


class Limiter:
    """A named sliding window shared by every gateway process through Redis (or in memory)."""

    def __init__(self, name: str, limit: int, window_s: float, redis=None, clock=time.time,
                 prefix: str = DEFAULT_REDIS_PREFIX):
        self.name = name
        self.key_prefix = f"{prefix}rate:{name}:"
        self.limit = limit
        self.window_s = window_s
        self.redis = redis
        self.clock = clock
        self.local = SlidingWindow(limit, window_s)

    async def hit(self, key: str) -> float:
        """Count one attempt; 0 when allowed, else the seconds until one is allowed again."""
        if self.redis is not None:
            try:
                now_ms = self.clock() * 1000
                wait_ms = await self.redis.eval(_HIT, 1, self.key_prefix + key, now_ms,
                                                self.window_s * 1000, self.limit, f"{now_ms}:{secrets.token_hex(4)}")
                return int(wait_ms) / 1000
            except Exception as exc:
                log.warning("shared rate limit unavailable: counting in this process",
                            extra={"fields": {"limit": self.name, "error": str(exc)}})
        return self.local.hit(key)
