"""What several gateway processes share through Redis: the client (reconnecting by itself after a
dropped connection or a Redis restart) and leases (one holder at a time, taken over when the holder
dies). Conversations, cases, hand-offs, reminders and scheduled calls live in the database; Redis
holds what is short-lived: rate-limit windows, locks, the desk's bus, leases, calls in progress."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket

log = logging.getLogger("hotline.shared")

DEFAULT_REDIS_PREFIX = "hotline:"
# no glob characters: a prefix's keys are found with SCAN MATCH '<prefix>*'
_PREFIX = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_redis_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"setting 'redis_prefix': {prefix!r} must be 1-64 letters, digits or . _ : -")
    return prefix

# renew only while we still hold it; the holder's token is the value
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def delete_prefixed(client, prefix: str) -> int:
    """Delete the keys under `prefix` (a synchronous client; SCAN, so Redis is never blocked), and
    only those: the Redis may be shared with other gateways and other programs (never FLUSHDB)."""
    check_redis_prefix(prefix)
    deleted = 0
    batch: list = []
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(key)
        if len(batch) == 500:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def client_name(prefix: str) -> str:
    """What the gateway's Redis connections call themselves (CLIENT LIST): the key prefix and the
    process, so an operator (or a test) can tell one gateway's connections from another's."""
    return f"{prefix}{process_name()}"


def redis_client(url: str, prefix: str = DEFAULT_REDIS_PREFIX):
    """An asyncio Redis client whose commands are retried on a fresh connection after a dropped one
    (CLIENT KILL, a Redis restart, a network blip): the first command after a drop would otherwise
    fail although Redis is back."""
    import redis.asyncio as aioredis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout
    from redis.retry import Retry

    return aioredis.from_url(url, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 5),
                             retry_on_error=[RedisConnectionError, RedisTimeout, ConnectionError, OSError],
                             health_check_interval=15, socket_connect_timeout=2, client_name=client_name(prefix))


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """A Redis key held by one process for `ttl_s`, renewed every third of it. A holder killed with
    -9 stops renewing, so another process takes over at most `ttl_s` later; a holder that cannot
    renew (Redis unreachable, or the key taken) gives the work up at once."""

    def __init__(self, redis, name: str, ttl_s: float = 10.0, prefix: str = DEFAULT_REDIS_PREFIX):
        self.redis = redis
        self.key = f"{prefix}lease:{name}"
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{process_name()}:{secrets.token_hex(4)}"

    async def try_acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.eval(_RELEASE, 1, self.key, self.token)

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def run_while_held(self, work, stop: asyncio.Event | None = None) -> None:
        """Forever: wait for the lease, run `work()` (a coroutine function) while it is held,
        cancel it when the lease is lost, and wait again."""
        pause = self.ttl_ms / 3000
        while stop is None or not stop.is_set():
            try:
                got = await self.try_acquire()
            except Exception as exc:  # Redis unreachable: nobody can hold it, try again
                log.warning("lease unavailable", extra={"fields": {"lease": self.key, "error": str(exc)}})
                got = False
            if not got:
                await asyncio.sleep(pause)
                continue
            log.info("lease taken", extra={"fields": {"lease": self.key, "holder": self.token}})
            task = asyncio.create_task(work())
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=pause)
                    if task.done():
                        break
                    try:
                        held = await self.renew()
                    except Exception:
                        held = False
                    if not held:
                        log.warning("lease lost: work stopped", extra={"fields": {"lease": self.key}})
                        break
            finally:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                await self.release()
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("leased work failed", extra={"fields": {"lease": self.key, "error": str(task.exception())}})
                await asyncio.sleep(pause)
