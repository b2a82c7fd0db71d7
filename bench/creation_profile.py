"""One case creation taken apart, for bench/cases.py: where its time goes.

In this process, one creation at a time (no queueing), on a fresh migrated database of the kind
with the reference data, through the gateway's own CaseStore:
- validation (cases.intake.validate_case) and the KDF (one argon2id hash, on the KDF threads);
- the write (CaseWriter.insert: the case and its event, committed), and what in it the indexes
  cost, by difference: the same creations again after the text index is dropped (FTS5 triggers on
  SQLite, the two GIN indexes on PostgreSQL), then again after the cases' other secondary indexes
  are dropped too (only the primary key and the unique number remain);
- the report summaries: not on the write path (the gateway's keeper refreshes them from the event
  log every 10 minutes); their refresh over the cases just created, per case.
HTTP (aiohttp, JSON, routing, logging, metrics) is what one client's creation over HTTP takes on
top of the store's share; bench/cases.py measures that on the running gateway.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from cases.calendar import WorkingCalendar
from cases.credentials import SecretHasher
from cases.db import Database
from cases.intake import validate_case
from cases.migrate import upgrade
from cases.models import Case
from cases.reference_data import load_reference_data
from cases.reports import refresh_summaries
from cases.store import CaseStore
from cases.workflow import Channel
from hotline.settings import Settings

TEXT_INDEX = {"sqlite": ["DROP TRIGGER cases_fts_insert"],
              "postgresql": ["DROP INDEX ix_cases_text_trgm", "DROP INDEX ix_cases_text_grams"]}


def _ms(values: list[float]) -> float:
    """The median in milliseconds: a busy machine's stalls land in the mean."""
    return statistics.median(values) * 1000 if values else float("nan")


class _Timed:
    """Times each await of one coroutine method of an object while in a `with` block."""

    def __init__(self, obj, name: str):
        self.obj, self.name, self.times = obj, name, []

    def __enter__(self):
        inner = getattr(self.obj, self.name)

        async def timed(*args):
            t0 = time.perf_counter()
            try:
                return await inner(*args)
            finally:
                self.times.append(time.perf_counter() - t0)
        setattr(self.obj, self.name, timed)
        return self

    def __exit__(self, *exc):
        delattr(self.obj, self.name)  # the class's method again


async def _drop(db: Database, statements: list[str]) -> None:
    def drop(session):
        for statement in statements:
            session.connection().exec_driver_sql(statement)
    async with db.write() as s:
        await s.run_sync(drop)


async def profile(db_url: str, settings: Settings, case_body: Callable[[int], dict], n: int = 200) -> dict:
    """Median milliseconds per creation of each part (see the module's notes)."""
    upgrade(db_url)
    db = Database(db_url)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kdf")
    with tempfile.TemporaryDirectory(prefix="hotline-profile-") as tmp:
        store = CaseStore(db, WorkingCalendar(settings.timezone, settings.workday_end),
                          SecretHasher(settings.case_kdf_time_cost, settings.case_kdf_memory_kib, executor),
                          Path(tmp), settings.attachment_max_bytes)
        try:
            await load_reference_data(db)
            await store.reload_calendar()
            codes = await store.category_codes()
            dialect = "sqlite" if db.sqlite else "postgresql"

            async def creations(first: int) -> tuple[list[float], list[float], list[float], list[float]]:
                validating, total = [], []
                with _Timed(store.hasher, "hash") as hashing, _Timed(store.case_writer, "insert") as writes:
                    for i in range(first, first + n):
                        t0 = time.perf_counter()
                        inp = validate_case(case_body(i), channel=Channel.WEB, known_categories=codes)
                        validating.append(time.perf_counter() - t0)
                        await store.create_case(inp)
                        total.append(time.perf_counter() - t0)
                return validating, hashing.times, writes.times, total

            async def refresh() -> float:
                started = time.perf_counter()
                async with db.write() as s:
                    await s.run_sync(lambda sync: refresh_summaries(sync.connection(), tz=settings.timezone,
                                                                    calendar=store.calendar))
                return time.perf_counter() - started

            await creations(-n)  # warm up: connections, caches, statements prepared
            await refresh()      # the summaries' first, whole build
            validating, hashing, writes, total = await creations(1_000_000)
            summaries = await refresh() / (2 * n)  # the next round re-summarizes every case made since
            await _drop(db, TEXT_INDEX[dialect])
            _, _, without_text, _ = await creations(2_000_000)
            others = [f"DROP INDEX {ix.name}" for ix in Case.__table__.indexes if not ix.unique]
            await _drop(db, others)
            _, _, bare, _ = await creations(3_000_000)
        finally:
            store.close()
            await db.dispose()
            executor.shutdown()
    write, no_text, no_index = _ms(writes), _ms(without_text), _ms(bare)
    return {"n": n, "validation": _ms(validating), "kdf": _ms(hashing), "write": write,
            "text_index": write - no_text, "other_indexes": no_text - no_index, "rows_and_commit": no_index,
            "other_indexes_count": len(others), "store_total": _ms(total), "summaries": summaries * 1000}


def run(db_url: str, settings: Settings, case_body: Callable[[int], dict], n: int = 200) -> dict:
    return asyncio.run(profile(db_url, settings, case_body, n))
