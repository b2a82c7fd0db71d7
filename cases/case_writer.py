"""Writing a new case and its registration event: the hot write path of every channel.

Both rows commit together before the caller learns the case's number, and the text index (the
FTS5 triggers on SQLite, the GIN indexes on PostgreSQL) is maintained in that same transaction.
What makes it cheap is how the transaction gets to the database:

- PostgreSQL: one statement, one round trip. The case is inserted in a CTE (ON CONFLICT on its
  number: a collision inserts nothing and the caller draws another number) and the event is
  inserted from that CTE's RETURNING, in autocommit: a single statement is its own transaction, so
  there is no BEGIN or COMMIT round trip and no ORM unit of work.
- SQLite: writers are serialized anyway, so creations queue and are written in batches (group
  commit): each batch is one BEGIN IMMEDIATE … COMMIT run in one hop to a writer thread with its
  own connection, instead of one transaction with about ten hops to aiosqlite's thread per case.
  A batch that fails is written again case by case, so one failure fails only its own case.
"""
from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import bindparam, event, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import QueuePool

from .db import Database, make_sync_engine
from .models import Case, CaseEvent

NUMBER_TRIES = 8   # numbers drawn per case before giving up (a collision within the day is rare)
MAX_BATCH = 64     # cases per SQLite transaction: bounds how long other writers wait

CASE_COLUMNS = tuple(c.name for c in Case.__table__.c if c.name != "id")
EVENT_COLUMNS = tuple(c.name for c in CaseEvent.__table__.c if c.name not in ("id", "case_id"))


class NumberExhausted(RuntimeError):
    """No free case number was found in NUMBER_TRIES draws."""


@dataclass
class NewCase:
    """A case's row (every column but id and number) and its event's (every column but id and case_id)."""
    case: dict[str, Any]
    event: dict[str, Any]
    draw_number: Callable[[], str]

    def __post_init__(self):
        for name, row, columns in (("case", self.case, set(CASE_COLUMNS) - {"number"}),
                                   ("event", self.event, set(EVENT_COLUMNS))):
            if set(row) != columns:  # every column given: the caller's object must equal the row
                raise ValueError(f"{name} row: columns {sorted(columns ^ set(row))} missing or unknown")


def _typed(text_sql: str, *columns_by_prefix):
    """A text statement whose parameters carry their columns' types (their bind processing: UTC
    datetimes, JSON). Text, because SQLAlchemy 1.4 cannot cache the compiled form of an INSERT
    with ON CONFLICT or in a CTE, and compiling it anew cost more than the database's own work."""
    params = [bindparam(prefix + c.name, type_=c.type) for prefix, cols in columns_by_prefix for c in cols]
    return text(text_sql).bindparams(*params)


def _case_insert(prefix: str = "") -> tuple[str, list]:
    """INSERT of a case that inserts nothing when its number is taken (ON CONFLICT on the number)."""
    table = Case.__table__
    columns = [table.c[c] for c in CASE_COLUMNS]
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join(':' + prefix + c.name for c in columns)}) ON CONFLICT (number) DO NOTHING")
    return sql, columns


def _pg_statement():
    """The case (nothing on a number collision) and, from its RETURNING, the event: one statement."""
    dialect = postgresql.dialect()
    case_sql, case_columns = _case_insert("c_")
    events = CaseEvent.__table__
    event_columns = [events.c[c] for c in EVENT_COLUMNS]
    # INSERT … SELECT gives the parameters no column to take their type from: cast each
    values = ", ".join(f"CAST(:e_{c.name} AS {c.type.compile(dialect=dialect)})" for c in event_columns)
    sql = (f"WITH new_case AS ({case_sql} RETURNING id) "
           f"INSERT INTO {events.name} (case_id, {', '.join(c.name for c in event_columns)}) "
           f"SELECT new_case.id, {values} FROM new_case RETURNING case_id")
    return _typed(sql, ("c_", case_columns), ("e_", event_columns))


def _sqlite_statements():
    """The case's INSERT (nothing on a number collision: rowcount 0) and the event's."""
    case_sql, case_columns = _case_insert()
    return _typed(case_sql, ("", case_columns)), insert(CaseEvent.__table__)


class _PostgresWriter:
    def __init__(self, db: Database):
        self._engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statement = _pg_statement()

    async def insert(self, new: NewCase) -> tuple[int, str]:
        async with self._engine.connect() as conn:
            for _ in range(NUMBER_TRIES):
                number = new.draw_number()
                params = {f"c_{k}": v for k, v in new.case.items()}
                params.update({f"e_{k}": v for k, v in new.event.items()}, c_number=number)
                case_id = (await conn.execute(self._statement, params)).scalar()
                if case_id is not None:
                    return case_id, number
        raise NumberExhausted("could not allocate a unique case number")


class _SqliteWriter:
    """Group commit through a connection of its own, on a thread of its own."""

    def __init__(self, db: Database):
        self._db = db
        self._engine = make_sync_engine(db.url, poolclass=QueuePool, pool_size=1, max_overflow=0,
                                        connect_args={"check_same_thread": False})
        # transactions are begun here (BEGIN IMMEDIATE), not by the driver
        event.listen(self._engine, "connect", lambda conn, _record: setattr(conn, "isolation_level", None))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-writer")
        self._pending: list[tuple[NewCase, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None
        self._insert_case, self._insert_event = _sqlite_statements()

    async def insert(self, new: NewCase) -> tuple[int, str]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((new, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        # the batch is written even if this caller goes away: shield it from the caller's cancellation
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            try:
                async with self._db.serialized():
                    results = await loop.run_in_executor(self._thread, self._write, [n for n, _ in batch])
            except BaseException as exc:  # noqa: B902 - handed to every waiting caller
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _write(self, batch: list[NewCase]) -> list[tuple[int, str] | BaseException]:
        """On the writer thread: the batch in one transaction, or each case alone if that fails."""
        with self._engine.connect() as conn:
            try:
                with self._transaction(conn):
                    return [self._write_one(conn, new) for new in batch]
            except Exception:
                if len(batch) == 1:
                    raise
            results: list[tuple[int, str] | BaseException] = []
            for new in batch:
                try:
                    with self._transaction(conn):
                        results.append(self._write_one(conn, new))
                except Exception as exc:
                    results.append(exc)
            return results

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _write_one(self, conn, new: NewCase) -> tuple[int, str]:
        for _ in range(NUMBER_TRIES):
            number = new.draw_number()
            result = conn.execute(self._insert_case, dict(new.case, number=number))
            if result.rowcount == 1:  # 0: the number is taken (ON CONFLICT DO NOTHING)
                case_id = result.lastrowid
                conn.execute(self._insert_event, dict(new.event, case_id=case_id))
                return case_id, number
        raise NumberExhausted("could not allocate a unique case number")

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()


class CaseWriter:
    """Inserts a case with its registration event, committed on return: (case id, number)."""

    def __init__(self, db: Database):
        self._impl = _SqliteWriter(db) if db.sqlite else _PostgresWriter(db)

    async def insert(self, new: NewCase) -> tuple[int, str]:
        return await self._impl.insert(new)

    def close(self) -> None:
        close = getattr(self._impl, "close", None)
        if close:
            close()
