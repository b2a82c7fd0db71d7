"""The parts several gateway processes share through Redis, each against a real Redis: rate limits,
the mailbox's lease, calls announced by one process and continued by another; and `--workers`
refusing a configuration that cannot be shared."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from channels.voice.agi import start_agi_server
from channels.voice.calls import CallRegistry
from hotline.ratelimit import Limiter
from hotline.shared import Lease, redis_client

from voice_peers import agi_request

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def redis():
    clients = []

    def make():
        clients.append(redis_client(REDIS_URL))
        return clients[-1]

    try:
        await make().ping()
    except Exception as exc:  # noqa: BLE001  (any failure to reach it means: no Redis here)
        from conftest import need
        need(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield make
    for client in clients:
        await client.close()


async def test_rate_limits_count_across_processes_and_in_memory_without_redis(redis):
    name = f"test-{uuid.uuid4().hex}"
    one, other = Limiter(name, 3, 60.0, redis()), Limiter(name, 3, 60.0, redis())
    assert [await one.hit("1.2.3.4"), await other.hit("1.2.3.4"), await one.hit("1.2.3.4")] == [0, 0, 0]
    wait = await other.hit("1.2.3.4")  # the fourth, on the other process: refused
    assert 59 < wait <= 60
    assert await other.hit("5.6.7.8") == 0  # another key has its own window
    # Redis unreachable: the limit still holds, counted in this process
    away = Limiter(name, 2, 60.0, redis_client("redis://127.0.0.1:1/0"))
    assert [await away.hit("k"), await away.hit("k")] == [0, 0] and await away.hit("k") > 0
    await away.redis.close()


async def test_one_lease_holder_at_a_time_and_takeover_after_a_death(redis):
    name = f"test-{uuid.uuid4().hex}"
    running: list[str] = []

    def work(who):
        async def run():
            running.append(who)
            await asyncio.Event().wait()  # works until the lease is lost or it is stopped
        return run

    # a holder killed with -9: it took the lease and never renews it
    dead = Lease(redis(), name, ttl_s=0.6)
    assert await dead.try_acquire()
    one, other = Lease(redis(), name, ttl_s=0.6), Lease(redis(), name, ttl_s=0.6)
    tasks = [asyncio.create_task(one.run_while_held(work("one"))),
             asyncio.create_task(other.run_while_held(work("other")))]
    for _ in range(100):
        if running:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # several renewals: the holder keeps it, the other waits
    assert len(running) == 1
    holder = running[0]
    assert await one.holder() == (one if holder == "one" else other).token
    # the holder stops: the other takes over
    tasks[0 if holder == "one" else 1].cancel()
    for _ in range(100):
        if len(running) == 2:
            break
        await asyncio.sleep(0.05)
    assert running[1] != holder
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_call_announced_by_one_process_goes_on_through_another(redis):
    owner = CallRegistry(redis=redis(), owner="127.0.0.1:9093")
    elsewhere = CallRegistry(redis=redis(), owner="127.0.0.1:9094")
    servers = [await start_agi_server(owner, "127.0.0.1", 0), await start_agi_server(elsewhere, "127.0.0.1", 0)]
    port_a, port_b = (s.sockets[0].getsockname()[1] for s in servers)
    try:
        got = await agi_request("127.0.0.1", port_a, "hotline", callerid="13800138000")
        call_uuid = got["variables"]["HOTLINE_UUID"]
        # the audio must reach the announcing process
        assert got["variables"]["HOTLINE_AUDIOSOCKET"] == "127.0.0.1:9093"
        info = owner.get(call_uuid)
        info.next = "queue"
        await info.shared(info)  # what the call session does before its hangup frame
        got = await agi_request("127.0.0.1", port_b, f"hotline/next?uuid={call_uuid}")
        assert got["variables"] == {"HOTLINE_NEXT": "queue", "HOTLINE_QUEUE": "hotline"}
        # nobody in the queue answered: the other process says so, the owner's audio hears it
        await agi_request("127.0.0.1", port_b, f"hotline/after-queue?uuid={call_uuid}&status=TIMEOUT")
        assert (await owner.for_audio(call_uuid)).phase == "voicemail"
        await agi_request("127.0.0.1", port_b, f"hotline/ended?uuid={call_uuid}")
        assert await elsewhere.find(call_uuid) is None
        assert await elsewhere.redis.exists(f"hotline:call:{call_uuid}") == 0
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def test_workers_refuse_a_database_that_cannot_be_shared(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(PYTHONPATH=str(ROOT), HOTLINE_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "hotline.cli", "run", "--workers", "2"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot start: --workers 2 needs PostgreSQL (db_url): SQLite serves one process"]
