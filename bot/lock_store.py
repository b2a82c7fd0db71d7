"""One turn at a time per conversation across gateway processes: a Redis lock per conversation.

Rasa's own RedisLockStore was not kept: its tickets are read, changed and written back in three
synchronous calls (two processes can draw the same ticket, and each call blocks the event loop),
waiters look again only once a second, and a process killed with -9 leaves its ticket to block the
conversation for Rasa's 60-second lifetime. Here a lock is one `SET NX PX` key with a token (redis-py's
asyncio Lock), renewed while its turn runs, so a killed holder frees the conversation within
`lifetime_s`, a waiter takes it within milliseconds of its release, and Redis connections dropped
in between are made again by the client."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncGenerator

from rasa.core.lock_store import LockError, LockStore

from hotline.shared import DEFAULT_REDIS_PREFIX

log = logging.getLogger("hotline.bot")


class RedisTurnLockStore(LockStore):
    def __init__(self, redis, *, lifetime_s: float = 10.0, wait_s: float = 300.0, prefix: str = f"{DEFAULT_REDIS_PREFIX}lock:"):
        super().__init__()
        self.redis = redis
        self.lifetime_s = lifetime_s
        self.wait_s = wait_s      # a turn waiting this long for its conversation fails (LockError)
        self.prefix = prefix

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = 0,
                   wait_time_in_seconds: float = 0) -> AsyncGenerator[object, None]:
        lock = self.redis.lock(self.prefix + conversation_id, timeout=self.lifetime_s, sleep=0.02,
                               blocking_timeout=self.wait_s)
        if not await lock.acquire():
            raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
        renewal = asyncio.create_task(self._renew(lock))
        try:
            yield lock
        finally:
            renewal.cancel()
            try:
                await lock.release()
            except Exception as exc:  # expired meanwhile (a stalled turn) or Redis away: it expires
                log.warning("conversation lock not released", extra={"fields": {"conversation": conversation_id,
                                                                                "error": str(exc)}})

    async def _renew(self, lock) -> None:
        """Keep the lock while the turn runs (a busy machine can make a turn outlast the lifetime)."""
        while True:
            await asyncio.sleep(self.lifetime_s / 3)
            try:
                await lock.reacquire()
            except Exception as exc:
                log.warning("conversation lock not renewed", extra={"fields": {"error": str(exc)}})

    # Rasa's ticket interface is not used: lock() above is the whole store
    def get_lock(self, conversation_id: str):
        return None
