"""Sliding-window rate limits (per client address, per case number) held in process memory.

With several gateway processes behind a balancer each keeps its own windows, so the effective
limit is N times the setting; sticky balancing by client address keeps it exact.
"""
from __future__ import annotations

import time
from collections import deque


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
