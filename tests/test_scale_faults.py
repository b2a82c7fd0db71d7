"""Two gateway processes on one PostgreSQL database and one Redis, sharing their ports with
SO_REUSEPORT as `hotline run --workers 2` runs them (README, "Scale-out"), and the faults a city
will see: the database's connections killed and refused for a while under load, Redis dropping the
gateways' connections, and one gateway killed with -9 in the middle of a chat intake and of a mail
burst. Processes are started here and killed by their PID; the pair is shared by the module (loading
two bots is the slow part)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from conftest import PG_SERVER, REDIS_SERVER, need, redis_namespace, temporary_pg_database
from mail_servers import Dovecot, dovecot_available, free_port

ROOT = Path(__file__).resolve().parent.parent
HOTLINE = "12345@hotline.example.cn"
KEYWORD = "$Hotline12345"
COMPLAINT = {"kind": "complaint", "location": "光明路菜市场", "contact_phone": "13912345678",
             "category": "hjbh.dqwr"}
# what the bot asks (bot/actions/case_intake.py) → what the citizen answers
# (the read-back first: it repeats every answer, and so every other cue)
ANSWERS = [("核对", "确认"), ("具体情况", "小区旁边的工地每天半夜还在施工，噪音太大了，吵得睡不着觉"),
           ("什么地方", "幸福小区东门"), ("什么时候", "每天晚上十点以后"),
           ("联系电话", "我的电话是13812345678"), ("怎么称呼", "我姓王"), ("需要回复", "需要")]


class Pair:
    """Two `hotline run` processes on the same HTTP port (SO_REUSEPORT), their Redis keys and
    channels under a prefix of their own (`redis`: a client to look at them with)."""

    def __init__(self, tmp: Path, db_url: str, env: dict, port: int, redis, prefix: str):
        self.tmp, self.db_url, self.env, self.port = tmp, db_url, env, port
        self.redis, self.prefix = redis, prefix
        self.url = f"http://127.0.0.1:{port}"
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}

    def start_one(self) -> subprocess.Popen:
        n = len(self.procs)
        log_path = self.tmp / f"gateway{n}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "run", "--no-migrate"], env=self.env,
                                    cwd=self.tmp, stdout=log, stderr=log)
        self.procs.append(proc)
        self.logs[proc.pid] = log_path
        return proc

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while "gateway listening" not in self.log(proc):
            assert proc.poll() is None, self.log(proc)[-4000:]
            assert time.monotonic() < deadline, "the gateway did not start: " + self.log(proc)[-4000:]
            time.sleep(0.5)

    def log(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid].read_text(errors="replace")

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def owner(self, local_port: int) -> subprocess.Popen:
        """The gateway process holding the server side of our connection from `local_port`."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if int(local.rsplit(":", 1)[1], 16) == self.port and int(remote.rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(f"socket:[{inode}]")
        for proc in self.alive():
            fd_dir = Path(f"/proc/{proc.pid}/fd")
            for fd in fd_dir.iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return proc
                except OSError:
                    continue
        raise AssertionError(f"no gateway holds the connection from port {local_port}")

    def stop(self) -> None:
        for proc in self.alive():
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    if not dovecot_available():
        need("dovecot is not installed (make system-deps installs Debian's dovecot-imapd)")
    tmp = tmp_path_factory.mktemp("scale")
    dovecot = Dovecot().start()
    try:
        # the Redis is shared: the gateways' leases, locks and bus start empty under a prefix of
        # their own, deleted afterwards
        with redis_namespace("scale") as (prefix, redis), temporary_pg_database("hotline_scale") as db_url:
            port = free_port()
            mail_user = f"scale{uuid.uuid4().hex[:8]}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
            env.update(PYTHONPATH=str(ROOT), HOTLINE_DATA_DIR=str(tmp / "data"), HOTLINE_DB_URL=db_url,
                       HOTLINE_HTTP_PORT=str(port), HOTLINE_REUSE_PORT="true", HOTLINE_REDIS_URL=REDIS_SERVER,
                       HOTLINE_LOCK_STORE_URL=REDIS_SERVER, HOTLINE_REDIS_PREFIX=prefix, HOTLINE_BOT_MODEL_DIR=str(ROOT / "models"),
                       HOTLINE_AGI_PORT="0", HOTLINE_LOG_LEVEL="INFO", HOTLINE_LOG_JSON="true",
                       HOTLINE_USER_KDF_TIME_COST="1", HOTLINE_USER_KDF_MEMORY_KIB="1024",
                       HOTLINE_IMAP_URL=dovecot.url(mail_user), HOTLINE_MAIL_FROM=HOTLINE,
                       HOTLINE_MAIL_POLL_S="1", HOTLINE_MAIL_WORKERS="4",
                       # a reader killed with -9: its lease and its claims are taken over in seconds
                       # (not fewer: on a busy machine a turn can hold a gateway's loop for seconds)
                       HOTLINE_MAIL_READER_LEASE_S="6", HOTLINE_MAIL_CLAIM_LEASE_S="5")
            cli = [sys.executable, "-m", "hotline.cli"]
            for args in (["db", "upgrade"], ["demo-data", "--history", "0"]):
                subprocess.run([*cli, *args], env=env, cwd=tmp, check=True, capture_output=True, timeout=600)
            gateways = Pair(tmp, db_url, env, port, redis, prefix)
            gateways.dovecot, gateways.mail_user = dovecot, mail_user
            try:
                for proc in (gateways.start_one(), gateways.start_one()):
                    gateways.wait_ready(proc)
                yield gateways
            finally:
                gateways.stop()
                logs = "\n".join(path.read_text(errors="replace") for path in gateways.logs.values())
                assert "Traceback" not in logs, logs[-6000:]
    finally:
        dovecot.stop()


def _db_name(url: str) -> str:
    return sa.engine.make_url(url).database


def _admin(*statements: str) -> None:
    engine = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _query(url: str, statement: str, **params):
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(statement), params).all()
    finally:
        engine.dispose()


async def _chat(ws, text: str, timeout: float = 240) -> list[dict]:
    """Send one chat message; the frames up to the turn's end ("idle")."""
    await ws.send_json({"type": "message", "text": text})
    frames = []
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        frames.append(frame)
        if frame["type"] in ("idle", "error"):
            return frames


def _said(frames: list[dict]) -> str:
    return "\n".join(f.get("text") or "" for f in frames if f["type"] == "bot")


def _answer_for(frames: list[dict]) -> str:
    said = _said(frames)
    for cue, answer in ANSWERS:
        if cue in said:
            return answer
    raise AssertionError(f"unexpected question: {said}")


async def _open_chat(http, url: str, session: str | None):
    ws = await http.ws_connect(f"{url}/ws/chat")
    await ws.send_json({"type": "hello", "session": session})
    welcome = json.loads((await ws.receive(timeout=30)).data)
    assert welcome["type"] == "welcome"
    return ws, welcome["session"]


def _local_port(ws) -> int:
    return ws.get_extra_info("sockname")[1]


async def test_database_and_redis_connections_killed_under_load(pair):
    """PostgreSQL: every connection of the gateways terminated and new ones refused for two seconds
    while citizens submit cases: those requests get 503 with a message that says so, the gateways
    serve again within 5 s of the database coming back without a restart, and every case a citizen
    was given a number for is there, once. Redis: the gateways' subscriptions and then all their
    connections killed (CLIENT KILL): both subscribe again and conversations (locks) go on."""
    db = _db_name(pair.db_url)
    run = uuid.uuid4().hex[:6]
    results: list[tuple[float, int, dict, str]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def citizen(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                marker = f"{run}-{i}-{n}"
                body = dict(COMPLAINT, description=f"光明路菜市场旁边的饭店油烟太大，每天中午熏得没法开窗（{marker}）")
                async with http.post(f"{pair.url}/api/cases", json=body) as resp:
                    results.append((time.monotonic(), resp.status, await resp.json(), marker))

        citizens = [asyncio.create_task(citizen(i)) for i in range(4)]
        await asyncio.sleep(2.0)
        down = time.monotonic()
        try:
            await loop.run_in_executor(None, _admin, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false',
                                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
            await asyncio.sleep(2.0)
        finally:
            await loop.run_in_executor(None, _admin, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
        back = time.monotonic()
        deadline = back + 15
        while not any(t > back and status == 201 for t, status, _, _ in results) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*citizens)

    statuses = {status for _, status, _, _ in results}
    assert statuses <= {201, 503}, [r for r in results if r[1] not in (201, 503)][:3]
    refused = [body for t, status, body, _ in results if status == 503]
    assert refused and all(b["error"] == "unavailable" and "数据库" in b["message"] for b in refused), refused[:3]
    assert all(down - 0.5 <= t for t, status, _, _ in results if status == 503)  # only around the outage
    recovered = min(t for t, status, _, _ in results if status == 201 and t > back) - back
    assert recovered <= 5.0, f"serving again {recovered:.1f} s after the database came back"
    print(f"\noutage: {len(refused)} requests answered 503; serving again {recovered:.2f} s after the database "
          f"came back; {sum(1 for r in results if r[1] == 201)} cases accepted")
    accepted = {body["number"]: marker for _, status, body, marker in results if status == 201}
    rows = _query(pair.db_url, "SELECT number, description FROM cases WHERE description LIKE :run",
                  run=f"%（{run}-%")
    stored = {number for number, _ in rows}
    assert set(accepted) <= stored  # no accepted case lost
    per_marker: dict[str, int] = {}
    for _, description in rows:
        marker = description.rsplit("（", 1)[1].rstrip("）")
        per_marker[marker] = per_marker.get(marker, 0) + 1
    assert max(per_marker.values()) == 1  # none twice

    # Redis drops the gateways' connections: subscriptions first, then every other one (only
    # these gateways' own clients, known by the name they give themselves: the Redis is shared)
    redis, bus = pair.redis, f"{pair.prefix}desk"
    ours = [c for c in redis.client_list() if c.get("name", "").startswith(pair.prefix)]
    subscribers = [c for c in ours if int(c.get("sub", 0)) or "P" in c.get("flags", "")]
    assert len(subscribers) >= 2
    assert redis.pubsub_numsub(bus)[0][1] == len(subscribers)  # each on the bus under its prefix
    for client in subscribers + [c for c in ours if c not in subscribers]:
        redis.client_kill_filter(_id=client["id"])
    deadline = time.monotonic() + 5
    while redis.pubsub_numsub(bus)[0][1] < 2:
        assert time.monotonic() < deadline, "the gateways did not subscribe again"
        await asyncio.sleep(0.1)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        async with http.post(f"{pair.url}/api/auth/token", json={"username": "supervisor",
                                                                 "password": "hotline-super"}) as resp:
            token = (await resp.json())["token"]
        # a desk screen on each process hears the bus (the kernel spreads the sockets among them)
        desks: dict[int, aiohttp.ClientWebSocketResponse] = {}
        for _ in range(40):
            ws = await http.ws_connect(f"{pair.url}/desk/ws", headers={"Cookie": f"hotline_desk={token}"})
            pid = pair.owner(_local_port(ws)).pid
            if pid in desks:
                await ws.close()
            else:
                desks[pid] = ws
            if len(desks) == 2:
                break
        assert len(desks) == 2, "every desk socket reached the same process"
        redis.publish(bus, json.dumps({"t": "queue"}))
        for ws in desks.values():
            while (frame := json.loads((await ws.receive(timeout=10)).data))["type"] != "queue":
                pass
            await ws.close()
        # conversations: a turn takes its lock in Redis through a killed connection
        ws, _ = await _open_chat(http, pair.url, None)
        assert _said(await _chat(ws, "我要投诉")), "the bot did not answer after Redis dropped its connections"
        await ws.close()


async def test_kill_9_mid_chat_intake_and_mid_mail_burst(pair):
    """One of the two gateways is killed with -9 while it holds a citizen's chat in the middle of a
    complaint and reads the mailbox in the middle of a burst: the widget reconnects (to the other,
    the only one left) and the form goes on from the last answered question to exactly one case;
    the other process takes the mailbox over and every mail becomes exactly one case."""
    mails = []
    for i in range(12):
        msg = EmailMessage()
        msg["From"], msg["To"] = f"citizen{i}@example.cn", HOTLINE
        msg["Subject"], msg["Message-ID"] = f"投诉噪音 {i}", make_msgid(domain="example.cn")
        msg.set_content(f"幸福小区{i}号楼旁边的工地每天半夜施工，噪音太大，请尽快处理。电话13812345{i:03d}")
        mails.append((msg["Message-ID"], msg.as_bytes()))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        # the chat must be held by the process that reads the mailbox: that one is killed
        deadline = time.monotonic() + 60
        while not (holder := pair.redis.get(f"{pair.prefix}lease:mailbox")):
            assert time.monotonic() < deadline, "nobody took the mailbox's lease"
            await asyncio.sleep(0.2)
        reader_pid = int(holder.decode().split(":")[1])
        for _ in range(40):
            ws, session = await _open_chat(http, pair.url, None)
            if pair.owner(_local_port(ws)).pid == reader_pid:
                break
            await ws.close()
        else:
            raise AssertionError("no chat reached the mailbox's reader")
        frames = await _chat(ws, "我要投诉")
        answered = 0
        for _ in range(3):  # the first three questions (what, where, …): then the gateway dies
            frames = await _chat(ws, _answer_for(frames))
            answered += 1
        await pair.dovecot.append(pair.mail_user, *[raw for _, raw in mails])
        deadline = time.monotonic() + 120
        while not _query(pair.db_url, "SELECT 1 FROM mail_messages LIMIT 1"):
            assert time.monotonic() < deadline, "the burst was not started on"
            await asyncio.sleep(0.05)
        os.kill(reader_pid, signal.SIGKILL)
        killed = time.monotonic()
        [victim] = [p for p in pair.procs if p.pid == reader_pid]
        victim.wait(10)
        # the widget reconnects with its session: the other process, the form where it was
        with pytest.raises((aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, AssertionError)):
            await _chat(ws, _answer_for(frames), timeout=10)
        ws, again = await _open_chat(http, pair.url, session)
        assert again == session and pair.owner(_local_port(ws)).pid != reader_pid
        for _ in range(10):
            frames = await _chat(ws, _answer_for(frames))
            if "已登记成功" in _said(frames):
                break
        else:
            raise AssertionError(_said(frames))
        await ws.close()
    cases = _query(pair.db_url, "SELECT number, description, location, contact_phone FROM cases "
                                "WHERE conversation_id = :c", c=f"webchat-{session}")
    assert len(cases) == 1, cases
    number, description, location, phone = cases[0]
    assert number in _said(frames) and "工地" in description and "幸福小区" in location and phone == "13812345678"
    # every mail once: each Message-ID one ledger row, finished, with its own case
    deadline = time.monotonic() + 240
    while True:
        rows = _query(pair.db_url, "SELECT message_id, state, case_id FROM mail_messages")
        if len(rows) == len(mails) and all(state != "processing" for _, state, _ in rows):
            break
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.5)
    assert sorted(mid for mid, _, _ in rows) == sorted(mid for mid, _ in mails)
    assert all(state == "case" for _, state, _ in rows), rows
    assert len({case_id for _, _, case_id in rows}) == len(mails)
    email_cases = _query(pair.db_url, "SELECT count(*) FROM cases WHERE channel = 'email'")[0][0]
    assert email_cases == len(mails)
    print(f"\nkill -9: the chat went on from answer {answered + 1} on the other process; all {len(mails)} mails "
          f"once, the last finished {time.monotonic() - killed:.1f} s after the kill")
