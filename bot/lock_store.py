"""One turn at a time per conversation across gateway processes: a Redis lock per conversation.

Rasa's own RedisLockStore was not kept: its tickets are read, changed and written back in three
synchronous calls (two processes can draw the same ticket, and each call blocks the event loop),
waiters look again only once a second, and a process killed with -9 leaves its ticket to block the
conversation for Rasa's 60-second lifetime. Here a lock is one `SET NX PX` key with a token (redis-py's
asyncio Lock), renewed while its turn runs, so a killed holder frees the conversation within
`lifetime_s`, a waiter takes it within milliseconds of its release, and Redis connections dropped
in between are made again by the client.

The lock also carries what a process needs to trust its cached tracker (bot/tracker_store.py): the
id of the conversation's newest stored event, left beside the lock by the last holder. Taking the
lock reads it and removes it in the same script, and releasing puts back the id the turn saved: a
holder that dies mid-turn leaves none, so the next one asks the database. Every turn of a shared
conversation is thereby one database statement (its INSERT) instead of two, with no extra round
trip to Redis.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from typing import AsyncGenerator, Optional

from rasa.core.lock_store import LockError, LockStore
from redis.asyncio.lock import Lock
from redis.exceptions import LockNotOwnedError

from hotline.shared import DEFAULT_REDIS_PREFIX

log = logging.getLogger("hotline.bot")

NEWEST_TTL_S = 24 * 3600  # a conversation idle longer is checked against the database again


class Newest:
    """What the holder of a conversation's lock knows of its newest stored event id."""
    __slots__ = ("conversation", "known", "saved", "unsure")

    def __init__(self, conversation: str, known: Optional[int]):
        self.conversation = conversation
        self.known = known    # left by the previous holder; None: ask the database
        self.saved: Optional[int] = None  # what this turn wrote
        self.unsure = False   # a write failed and may have committed: leave nothing behind

    def current(self) -> Optional[int]:
        """The newest id as this holder knows it now; None: ask the database."""
        if self.unsure:
            return None
        return self.saved if self.saved is not None else self.known


_held: ContextVar[Optional[Newest]] = ContextVar("held_conversation", default=None)


def newest_known(conversation: str) -> Optional[int]:
    """The conversation's newest stored event id, when this task holds its lock and it is known."""
    held = _held.get()
    return held.current() if held is not None and held.conversation == conversation else None


def note_saved(conversation: str, newest: Optional[int]) -> None:
    """The tracker store wrote this conversation: `newest` its newest id, None when the outcome of
    the write is unknown (its commit failed)."""
    held = _held.get()
    if held is not None and held.conversation == conversation:
        held.saved = newest
        held.unsure = held.unsure or newest is None


class _TurnLock(Lock):
    """redis-py's lock whose taking also takes the newest id (KEYS[2]) and whose release leaves one."""

    ACQUIRE = """
        if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
          local newest = redis.call('get', KEYS[2])
          redis.call('del', KEYS[2])
          return {1, newest}
        end
        return {0}
    """
    # a holder whose lock expired under it (a stalled turn) and who wrote anyway removes the id
    # another holder may have left: it is older than what is stored now
    RELEASE = """
        if redis.call('get', KEYS[1]) ~= ARGV[1] then
          if ARGV[4] == '1' then redis.call('del', KEYS[2]) end
          return 0
        end
        redis.call('del', KEYS[1])
        if ARGV[2] ~= '' then redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
        return 1
    """

    def __init__(self, redis, name: str, newest_key: str, conversation: str, scripts, **kwargs):
        super().__init__(redis, name, **kwargs)
        self.newest_key = newest_key
        self.held = Newest(conversation, None)
        self._acquire_script, self._release_script = scripts

    async def do_acquire(self, token) -> bool:
        taken = await self._acquire_script(keys=[self.name, self.newest_key],
                                           args=[token, int(self.timeout * 1000)], client=self.redis)
        if not taken or not taken[0]:
            return False
        self.held.known = int(taken[1]) if len(taken) > 1 and taken[1] is not None else None
        return True

    async def do_release(self, expected_token) -> None:
        held, newest = self.held, self.held.current()
        if not await self._release_script(keys=[self.name, self.newest_key],
                                          args=[expected_token, "" if newest is None else newest, NEWEST_TTL_S,
                                                "1" if held.saved is not None or held.unsure else "0"],
                                          client=self.redis):
            raise LockNotOwnedError("Cannot release a lock that's no longer owned")


class RedisTurnLockStore(LockStore):
    def __init__(self, redis, *, lifetime_s: float = 10.0, wait_s: float = 300.0, prefix: str = f"{DEFAULT_REDIS_PREFIX}lock:",
                 newest_prefix: str = f"{DEFAULT_REDIS_PREFIX}newest:"):
        super().__init__()
        self.redis = redis
        self.lifetime_s = lifetime_s
        self.wait_s = wait_s      # a turn waiting this long for its conversation fails (LockError)
        self.prefix = prefix
        self.newest_prefix = newest_prefix
        self._scripts = (redis.register_script(_TurnLock.ACQUIRE), redis.register_script(_TurnLock.RELEASE))

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = 0,
                   wait_time_in_seconds: float = 0) -> AsyncGenerator[object, None]:
        lock = _TurnLock(self.redis, self.prefix + conversation_id, self.newest_prefix + conversation_id,
                         conversation_id, self._scripts, timeout=self.lifetime_s, sleep=0.02, blocking_timeout=self.wait_s)
        if not await lock.acquire():
            raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
        renewal = asyncio.create_task(self._renew(lock))
        held = _held.set(lock.held)
        try:
            yield lock
        finally:
            _held.reset(held)
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
