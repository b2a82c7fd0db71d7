"""Shared fixtures: real databases (SQLite files and a fresh PostgreSQL database), the gateway's
services and its HTTP application."""
from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import os
import shutil
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from cases.migrate import upgrade
from cases.reference_data import load_reference_data
from hotline.services import Services
from hotline.settings import Settings
from hotline.web import create_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SERVER = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def event_loop_policy():
    """asyncio's own loop for every test, whatever an import did to the process: Rasa's server
    module lets Sanic install uvloop's policy when it is imported, which otherwise switched the loop
    of every later test depending on which tests ran first."""
    return asyncio.DefaultEventLoopPolicy()


# ---- threads left behind ---------------------------------------------------------------------
# A thread that is not a daemon and never ends (an aiosqlite connection nobody closed, a pool job
# that waits forever) keeps the interpreter from exiting after the last test: CI then hangs until
# its time limit with every test passed. Each such thread is traced to the test that left it, named
# in the summary, and the process ends with the session's own status instead of hanging.
_LEFT_BY: dict[threading.Thread, str] = {}


def _lingering() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    for thread in _lingering():
        _LEFT_BY.setdefault(thread, item.nodeid)


def pytest_terminal_summary(terminalreporter):
    left = [(t, _LEFT_BY.get(t, "?")) for t in _lingering()]
    # an executor's idle workers end at exit; anything else is reported
    left = [(t, by) for t, by in left if not idle_pool_worker(t)]
    if left:
        terminalreporter.section("threads still running after the tests")
        frames = sys._current_frames()
        for thread, by in left:
            frame = frames.get(thread.ident)
            where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}" if frame else "?"
            terminalreporter.write_line(f"{thread.name} (first seen after {by}), at {where}")


def idle_pool_worker(thread: threading.Thread) -> bool:
    """An executor's worker waiting for work (its queue's get is C code, so `_worker` is the
    innermost Python frame): it ends when the interpreter shuts the pools down."""
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code.co_name == "_worker" and \
        "concurrent/futures" in frame.f_code.co_filename


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # whatever else might hold the exit (a child process joined at exit): stacks, then status 1,
    # rather than CI's time limit
    faulthandler.dump_traceback_later(300, exit=True)
    if any(not idle_pool_worker(t) for t in _lingering()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_hotline_exitstatus", 0))


def pytest_sessionfinish(session, exitstatus):
    session.config._hotline_exitstatus = int(exitstatus)


def need(reason: str):
    """Skip locally when a real peer is missing, but fail in CI: CI must run every test."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run these tests)")
    pytest.skip(reason)


REDIS_SERVER = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextlib.contextmanager
def redis_namespace(name: str, url: str = REDIS_SERVER):
    """A key prefix of this test's own on the shared Redis (its `redis_prefix`), and a synchronous
    client; afterwards its keys, and only its keys, are deleted (never FLUSHDB: the Redis is shared
    with other gateways and other runs). Skips or fails via need() when Redis is not there."""
    import redis

    from hotline.shared import delete_prefixed

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001  (any failure to reach it means: no Redis here)
        client.close()
        need(f"Redis not reachable at {url}: {exc}")
    prefix = f"test-{name}-{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix, client
    finally:
        try:
            delete_prefixed(client, prefix)
        finally:
            client.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "hotline.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextlib.contextmanager
def temporary_pg_database(prefix: str):
    """A new, empty PostgreSQL database (its URL), dropped afterwards; skips or fails via need()."""
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT", future=True)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        need(f"PostgreSQL not reachable at {PG_SERVER}: {exc.orig}")
    try:
        yield str(sa.engine.make_url(PG_SERVER).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test run, migrated once and dropped at the end."""
    with temporary_pg_database("hotline_test") as url:
        upgrade(url)
        yield url


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url, future=True)
    with engine.begin() as conn:
        tables = [t for t in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
        ).scalars()]
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "hotline.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    path = tmp_path / "hotline.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_settings(tmp_path: Path, db_url: str, **overrides) -> Settings:
    # cheap staff-password hashing keeps the suite fast; the costs themselves are settings
    values = dict(data_dir=tmp_path / "data", db_url=db_url, user_kdf_time_cost=1, user_kdf_memory_kib=1024,
                  log_json=False, bot_enabled=False)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def services_factory(tmp_path):
    made: list[Services] = []

    async def make(db_url: str, **overrides) -> Services:
        services = await Services.create(make_settings(tmp_path, db_url, **overrides))
        await load_reference_data(services.db)
        await services.store.reload_calendar()
        made.append(services)
        return services

    yield make
    for s in made:
        await s.close()


@pytest.fixture
async def services(services_factory, db_url) -> Services:
    return await services_factory(db_url)


@pytest.fixture
async def client_factory():
    clients: list[TestClient] = []

    async def make(services: Services) -> TestClient:
        client = TestClient(TestServer(create_app(services)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def client(client_factory, services) -> TestClient:
    return await client_factory(services)


@pytest.fixture
async def staff_tokens(services, client) -> dict[str, str]:
    """Bearer tokens for one user of each role (the department user belongs to 'zjj')."""
    users = {"agent": ("agent1", "agent", None), "supervisor": ("super1", "supervisor", None),
             "admin": ("admin1", "admin", None), "department": ("dept1", "department", "zjj"),
             "other_department": ("dept2", "department", "sthjj")}
    tokens = {}
    for key, (username, role, dept) in users.items():
        await services.accounts.create_user(username, "secret-pass-1", role, department_code=dept)
        resp = await client.post("/api/auth/token", json={"username": username, "password": "secret-pass-1"})
        assert resp.status == 201, await resp.text()
        tokens[key] = (await resp.json())["token"]
    return tokens


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---- the bot -----------------------------------------------------------------------------------
MODEL_DIR = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="session")
def bot_agent():
    """The trained model, loaded once per test run (training first when the data changed)."""
    from bot.engine import load_agent
    from bot.training import ensure_model

    return load_agent(ensure_model(MODEL_DIR))


@pytest.fixture
async def engine(bot_agent, services, db_url):
    from bot.engine import Engine

    eng = await Engine.create(bot_agent, services.store)
    services.engine = eng
    return eng


# ---- speech (the voice channel) ----------------------------------------------------------------
@pytest.fixture(scope="session")
def speech_service(tmp_path_factory):
    """The real Vosk model and Piper voice (from the registry packages unless models/speech/ has
    fetched ones), loaded once per run with a prompt cache in a temporary folder."""
    from speech.models import load_speech

    service, why = load_speech(cache_dir=tmp_path_factory.mktemp("prompt-cache"))
    if service is None:
        need(f"speech models missing: {why}")
    yield service
    service.close()


@pytest.fixture
async def agent_on_duty(services, client):
    """An agent with the desk open (its socket) on the chat's gateway: someone works the hand-offs."""
    from aiohttp.test_utils import TestClient

    from desk_support import PASSWORD, login

    await services.accounts.create_user("duty1", PASSWORD, "agent", agent_no="3001")
    agent = TestClient(client.server)
    await agent.start_server()
    assert (await login(agent, "duty1")).status == 302
    desk = await agent.ws_connect("/desk/ws")
    assert json.loads((await desk.receive()).data)["type"] == "hello"
    yield desk
    await desk.close()
    await agent.close()
