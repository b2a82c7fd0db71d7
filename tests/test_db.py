"""The database layer's connection handling, on SQLite and PostgreSQL."""
import asyncio

import pytest
import sqlalchemy as sa

from cases import db as db_module
from cases.db import Database


async def test_read_sessions_hold_no_transaction_and_writes_do(db_url):
    db = Database(db_url)
    try:
        if db.sqlite:
            async with db.read() as s:
                await s.execute(sa.text("SELECT 1"))
                raw = (await (await s.connection()).get_raw_connection()).connection
                assert raw._connection.in_transaction is False  # the aiosqlite connection
            async with db.write() as s:
                await s.execute(sa.text("SELECT 1"))
                raw = (await (await s.connection()).get_raw_connection()).connection
                assert raw._connection.in_transaction is True
        else:
            query = sa.text("SELECT pg_current_xact_id()::text, now()")
            async with db.read() as s:
                # outside a transaction every statement is one of its own
                first = (await s.execute(query)).one()
                second = (await s.execute(query)).one()
                assert first[0] != second[0] and first[1] != second[1]
            async with db.write() as s:
                first = (await s.execute(query)).one()
                second = (await s.execute(query)).one()
                assert first == second
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_connections_the_server_dropped_while_idle_are_replaced_unseen(pg_database, monkeypatch):
    monkeypatch.setattr(db_module, "PING_IDLE_S", 0.2)
    db = Database(pg_database)
    try:
        async def my_backend():
            async with db.read() as s:
                return (await s.execute(sa.text("SELECT pg_backend_pid()"))).scalar()

        pids = set(await asyncio.gather(*(my_backend() for _ in range(3))))
        admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT", future=True)
        with admin.connect() as conn:  # what a server restart does to the pool's connections
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        await asyncio.sleep(0.3)
        for _ in range(3):
            assert await my_backend() not in pids
        async with db.write() as s:
            assert (await s.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()


def test_a_connection_left_mid_operation_by_a_terminated_backend_is_an_outage():
    """asyncpg, when the backend of a connection in use was terminated: a 503, not a 500; a
    different internal client error is not taken for an outage."""
    from asyncpg.exceptions import InternalClientError
    from cases.db import is_outage

    assert is_outage(InternalClientError("cannot switch to state 12; another operation (2) is in progress"))
    assert not is_outage(InternalClientError("something else"))
    assert not is_outage(ValueError("another operation"))
