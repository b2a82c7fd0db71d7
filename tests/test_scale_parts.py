"""The parts several gateway processes share through Redis, each against a real Redis: rate limits,
the mailbox's lease, calls announced by one process and continued by another, every key and channel
under the configured prefix; and `--workers` refusing a configuration that cannot be shared."""
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
from bot.engine import lock_store_for
from channels.desk.live import LiveDesk
from hotline.ratelimit import Limiter
from hotline.settings import SettingsError, load_settings
from hotline.workers import worker_environment
from hotline.shared import Lease, delete_prefixed, redis_client

from conftest import REDIS_SERVER, redis_namespace
from voice_peers import agi_request

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def namespace():
    """(prefix, synchronous client): this test's own keys on the shared Redis, deleted afterwards."""
    with redis_namespace("parts") as found:
        yield found


@pytest.fixture
async def redis(namespace):
    clients = []

    def make():
        clients.append(redis_client(REDIS_SERVER, namespace[0]))
        return clients[-1]

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


async def test_a_call_announced_by_one_process_goes_on_through_another(redis, namespace):
    prefix, sync = namespace
    owner = CallRegistry(redis=redis(), owner="127.0.0.1:9093", prefix=prefix)
    elsewhere = CallRegistry(redis=redis(), owner="127.0.0.1:9094", prefix=prefix)
    servers = [await start_agi_server(owner, "127.0.0.1", 0), await start_agi_server(elsewhere, "127.0.0.1", 0)]
    port_a, port_b = (s.sockets[0].getsockname()[1] for s in servers)
    try:
        got = await agi_request("127.0.0.1", port_a, "hotline", callerid="13800138000")
        call_uuid = got["variables"]["HOTLINE_UUID"]
        # the audio must reach the announcing process
        assert got["variables"]["HOTLINE_AUDIOSOCKET"] == "127.0.0.1:9093"
        assert sync.exists(f"{prefix}call:{call_uuid}") == 1  # under the gateway's prefix
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
        assert sync.exists(f"{prefix}call:{call_uuid}") == 0
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


class _Handoffs:
    async def open_items(self):
        return []


async def test_every_key_and_channel_is_under_the_prefix_and_only_those_are_deleted(namespace):
    """Two gateways (or a test and a gateway) on one Redis keep apart by `redis_prefix`: rate limits,
    leases, conversation locks and the desk's bus are all under it, the clients are named by it, and
    deleting a prefix's keys leaves everyone else's."""
    prefix, sync = namespace
    neighbour = f"{prefix}neighbour:"  # another gateway's prefix, starting like ours
    other = f"test-other-{uuid.uuid4().hex[:8]}:"
    sync.set(f"{other}kept", "1")
    client = redis_client(REDIS_SERVER, prefix)
    store = lock_store_for(REDIS_SERVER, prefix)
    desk = LiveDesk(_Handoffs(), None, REDIS_SERVER, redis_prefix=prefix)
    try:
        limiter = Limiter("lookup-client", 1, 60.0, client, prefix=prefix)
        assert await limiter.hit("1.2.3.4") == 0 and await limiter.hit("1.2.3.4") > 0
        assert await Limiter("lookup-client", 1, 60.0, client, prefix=neighbour).hit("1.2.3.4") == 0  # its own window
        lease = Lease(client, "mailbox", 30, prefix=prefix)
        assert await lease.try_acquire()
        async with store.lock("webchat-abc"):
            held = {k.decode() for k in sync.scan_iter(match=f"{prefix}*")}
        assert held == {f"{prefix}rate:lookup-client:1.2.3.4", f"{neighbour}rate:lookup-client:1.2.3.4",
                        f"{prefix}lease:mailbox", f"{prefix}lock:webchat-abc"}
        await desk.start()
        assert sync.pubsub_numsub(f"{prefix}desk")[0][1] == 1
        names = [c.get("name", "") for c in sync.client_list()]
        assert sum(name.startswith(prefix) for name in names) >= 3  # the client, the lock store's, the bus
    finally:
        await desk.stop()
        await store.redis.close()
        await client.close()
    assert delete_prefixed(sync, neighbour) == 1
    assert delete_prefixed(sync, prefix) == 2  # the lease and our window (the lock was released)
    assert sync.get(f"{other}kept") == b"1"
    sync.delete(f"{other}kept")


def test_the_prefix_is_a_setting_checked_at_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no hotline.toml here
    assert load_settings(None, {}).redis_prefix == "hotline:"
    assert load_settings(None, {"HOTLINE_REDIS_PREFIX": "city-a:"}).redis_prefix == "city-a:"
    for bad in ("", "a b", "keys*", "x" * 65):
        with pytest.raises(SettingsError, match="redis_prefix"):
            load_settings(None, {"HOTLINE_REDIS_PREFIX": bad})


def test_workers_refuse_a_database_that_cannot_be_shared(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(PYTHONPATH=str(ROOT), HOTLINE_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "hotline.cli", "run", "--workers", "2"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot start: --workers 2 needs PostgreSQL (db_url): SQLite serves one process"]


def test_each_worker_sizes_the_nlu_threads_to_its_share_of_the_cores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {})
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = worker_environment(settings, 1, 4)
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    assert worker_environment(settings, 0, 16)["TF_NUM_INTRAOP_THREADS"] == "1"
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")  # the operator's own choice wins
    assert worker_environment(settings, 0, 4)["TF_NUM_INTRAOP_THREADS"] == "3"
