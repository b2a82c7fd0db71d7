"""Engines for the case database: async for the gateway, sync for migrations and tools.

One URL in the settings (`sqlite:///…` or `postgresql://…`) gives both: the async engine uses
aiosqlite / asyncpg, the sync one the standard drivers (Alembic and Rasa's tracker store use it).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def _driver_url(url: str, *, async_: bool) -> str:
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite" if async_ else "sqlite"))
    if backend == "postgresql":
        return str(u.set(drivername="postgresql+asyncpg" if async_ else "postgresql+psycopg2"))
    raise ValueError(f"setting 'db_url': unsupported database {backend!r} (use sqlite or postgresql)")


def sync_url(url: str) -> str:
    return _driver_url(url, async_=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets look-ups read while a case is being written; NORMAL sync is durable across
    # process crashes (only a power cut can lose the last commits); FKs enforce cascades.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_sync_engine(url: str, **kwargs):
    url = sync_url(url)
    if is_sqlite(url):
        _prepare_sqlite_file(url)
    engine = create_engine(url, future=True, **kwargs)
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


PING_IDLE_S = 10.0


def _ping_when_idle(sync_engine, idle_s: float) -> None:
    """Probe a pooled connection before use only when it sat idle longer than `idle_s`.

    pool_pre_ping probes every checkout, and with asyncpg the probe is BEGIN, SELECT 1 and (for a
    read) ROLLBACK: more round trips than a case look-up's own queries. Connections broken by a
    server restart are the ones that sat idle, so they are still replaced before anyone sees an
    error; a busy connection that breaks fails its request and SQLAlchemy then renews the pool.
    """
    pool = sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checkin(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_connection, record, proxy):
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > idle_s \
                and not sync_engine.dialect.do_ping(dbapi_connection):
            raise exc.DisconnectionError("stale connection")  # the pool connects afresh and retries


# asyncpg's errors for a connection the server ended or refuses (pg_terminate_backend, a restart,
# a database closed to connections): SQLSTATE class 08, operator intervention 57P01-57P03, too many
# connections; and the driver's own "connection is closed"
_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_OUTAGE_NAMES = {"ConnectionDoesNotExistError", "ConnectionResetError", "ConnectionRefusedError",
                 "ClientCannotConnectError", "ConnectionFailureError", "ConnectionRejectionError"}


def is_outage(error: BaseException) -> bool:
    """Whether an error means the database cannot be reached (for now), not that a request was
    wrong: such a request is answered 503 and may be tried again; the pool reconnects by itself.
    A failed connect comes as asyncpg's own exception (SQLAlchemy does not wrap it), a statement
    on a dead connection as SQLAlchemy's DBAPIError around it."""
    if isinstance(error, (exc.DisconnectionError, exc.TimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None)
    for cause in (error, orig, getattr(orig, "__cause__", None)):
        if cause is None:
            continue
        state = str(getattr(cause, "sqlstate", "") or "")
        if type(cause).__name__ in _OUTAGE_NAMES or state.startswith(_OUTAGE_STATES) \
                or "not currently accepting connections" in str(cause) or "connection is closed" in str(cause):
            return True
        # asyncpg on a connection whose backend was terminated while it was being used: its protocol
        # is left mid-operation ("cannot switch to state 12; another operation (2) is in progress")
        if type(cause).__name__ == "InternalClientError" and "another operation" in str(cause):
            return True
    return False


def log_failure(logger, message: str, error: BaseException, **fields) -> None:
    """A background round that failed: one warning line while the database is away (it is retried),
    the traceback for anything else."""
    if is_outage(error):
        logger.warning(f"{message}: database unavailable, will retry",
                       extra={"fields": {**fields, "error": str(error).splitlines()[0][:200] if str(error) else ""}})
    else:
        logger.error(message, exc_info=error, extra={"fields": fields})


class Database:
    """The async engine plus the session factory the store uses.

    On SQLite, write transactions are serialized in-process and start with BEGIN IMMEDIATE, so a
    writer never fails with "database is locked" by upgrading a read lock another writer holds.

    Read sessions run without a transaction (autocommit): no BEGIN and ROLLBACK round trips, which
    are most of a short read's cost. Each statement then reads its own committed snapshot, which is
    what PostgreSQL's default READ COMMITTED gives inside a transaction anyway. Nothing may be
    written through a read session.
    """

    def __init__(self, url: str, *, pool_size: int = 20, echo: bool = False):
        self.url = url
        self.sqlite = is_sqlite(url)
        async_url = _driver_url(url, async_=True)
        if self.sqlite:
            _prepare_sqlite_file(url)
            self.engine: AsyncEngine = create_async_engine(
                async_url, future=True, echo=echo, poolclass=AsyncAdaptedQueuePool,
                pool_size=4, max_overflow=4)
            sync = self.engine.sync_engine

            @event.listens_for(sync, "connect")
            def _connect(dbapi_connection, record):
                _sqlite_pragmas(dbapi_connection, record)
                # take transaction control away from the driver; "begin" below emits it
                dbapi_connection.isolation_level = None

            @event.listens_for(sync, "begin")
            def _begin(conn):
                options = conn.get_execution_options()
                if options.get("sqlite_autocommit"):
                    return  # a read session: the driver is in autocommit mode already
                conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate") else "BEGIN")

            self._write_engine = self.engine.execution_options(sqlite_immediate=True)
            self._read_engine = self.engine.execution_options(sqlite_autocommit=True)
        else:
            # pool_size: connections kept open for the requests served at once (20 clients): past it an
            # overflow connection is closed when returned, and opening one costs PostgreSQL a new
            # backend (milliseconds of CPU), which 10 kept connections paid on every tenth creation
            self.engine = create_async_engine(async_url, future=True, echo=echo, pool_size=pool_size,
                                              max_overflow=pool_size // 2)
            _ping_when_idle(self.engine.sync_engine, PING_IDLE_S)
            self._write_engine = self.engine
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.sqlite else None

    def read(self) -> AsyncSession:
        """A session for reading only (autocommit: see the class notes)."""
        return AsyncSession(self._read_engine, expire_on_commit=False, future=True)

    def one_statement(self):
        """PostgreSQL: a Core connection (no ORM session around it: a hot path's statement costs
        less) for a write that is one statement, its own transaction (autocommit: no BEGIN and
        COMMIT round trips), able to answer with RETURNING. None on SQLite, where writes go through
        write()."""
        return None if self.sqlite else self._read_engine.connect()

    def serialized(self):
        """The lock every in-process writer holds on SQLite (a no-op context on PostgreSQL)."""
        return self._write_lock or contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def write(self):
        """A session whose transaction commits on success and rolls back on any error."""
        async with self.serialized():
            async with AsyncSession(self._write_engine, expire_on_commit=False, future=True) as session:
                async with session.begin():
                    yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
