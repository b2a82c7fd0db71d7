"""One case creation taken apart, for bench/cases.py: where its time goes.

In this process, one creation at a time (no queueing), through the gateway's own services, each on
a fresh migrated database of the kind with the reference data. The machine may be busy and its
speed change from minute to minute, so what is compared is measured in turns, round after round:
1. a creation through the gateway's HTTP API (aiohttp's test server and client, in this process);
2. a creation through CaseStore.create_case on the same database: validation, the KDF (one
   argon2id hash, on the KDF threads), the write (CaseWriter.insert: the case and its event,
   committed) and the rest (Python around them);
3. the same on a database without the text index (FTS5 triggers on SQLite, the two GIN indexes on
   PostgreSQL), and 4. on one without the cases' other secondary indexes too (only the primary
   key and the unique number): what each index set costs the write, by difference.
HTTP (aiohttp, JSON, routing, middlewares, logging, metrics, both ends) is 1. less 2.
The report summaries are not on the write path (the gateway's keeper refreshes them from the event
log every 10 minutes); their refresh over the cases just created is timed per case.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from aiohttp.test_utils import TestClient, TestServer

from cases.db import Database
from cases.intake import validate_case
from cases.migrate import upgrade
from cases.models import Case
from cases.reference_data import load_reference_data
from cases.reports import refresh_summaries
from cases.workflow import Channel
from hotline.services import Services
from hotline.settings import Settings, replace
from hotline.web import create_app

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


async def _services(db_url: str, settings: Settings, data_dir: Path) -> Services:
    upgrade(db_url)
    services = await Services.create(replace(settings, db_url=db_url, data_dir=data_dir, bot_enabled=False))
    await load_reference_data(services.db)
    await services.store.reload_calendar()
    return services


async def profile(db_urls: list[str], settings: Settings, case_body: Callable[[int], dict], n: int = 200) -> dict:
    """Median milliseconds per creation of each part (see the module's notes); db_urls: three
    fresh databases of one kind."""
    with tempfile.TemporaryDirectory(prefix="hotline-profile-") as tmp:
        made = [await _services(url, settings, Path(tmp) / str(i)) for i, url in enumerate(db_urls)]
        full, no_text, bare = made
        client = TestClient(TestServer(create_app(full)))
        await client.start_server()
        try:
            dialect = "sqlite" if full.db.sqlite else "postgresql"
            await _drop(no_text.db, TEXT_INDEX[dialect])
            others = [f"DROP INDEX {ix.name}" for ix in Case.__table__.indexes if not ix.unique]
            await _drop(bare.db, TEXT_INDEX[dialect] + others)
            codes = await full.store.category_codes()
            parts: dict[str, list[float]] = {k: [] for k in ("http", "validation", "kdf", "write", "store",
                                                             "write_no_text", "write_bare")}

            async def by_http(i: int) -> None:
                t0 = time.perf_counter()
                async with client.post("/api/cases", json=case_body(i)) as resp:
                    assert resp.status == 201, await resp.text()
                    await resp.read()
                parts["http"].append(time.perf_counter() - t0)

            async def by_store(services: Services, i: int, write: str, whole: bool) -> None:
                with _Timed(services.store.hasher, "hash") as hashing, \
                        _Timed(services.store.case_writer, "insert") as writing:
                    t0 = time.perf_counter()
                    inp = validate_case(case_body(i), channel=Channel.WEB, known_categories=codes)
                    validated = time.perf_counter()
                    await services.store.create_case(inp)
                    done = time.perf_counter()
                parts[write] += writing.times
                if whole:
                    parts["validation"].append(validated - t0)
                    parts["kdf"] += hashing.times
                    parts["store"].append(done - t0)

            async def round_(i: int) -> None:
                await by_http(i)
                await by_store(full, i, "write", True)
                await by_store(no_text, i, "write_no_text", False)
                await by_store(bare, i, "write_bare", False)

            for i in range(-20, 0):  # warm up: connections, caches, statements prepared
                await round_(i)
            parts = {k: [] for k in parts}
            await _refresh(full)  # the summaries' first, whole build
            for i in range(n):
                await round_(1_000_000 + i)
            summaries = await _refresh(full) / (3 * n + 20)  # every case made since the first build
        finally:
            await client.close()
            for services in made:
                await services.close()
    m = {k: _ms(v) for k, v in parts.items()}
    return {"n": n, "validation": m["validation"], "kdf": m["kdf"], "write": m["write"],
            "text_index": m["write"] - m["write_no_text"], "other_indexes": m["write_no_text"] - m["write_bare"],
            "rows_and_commit": m["write_bare"], "other_indexes_count": len(others), "store_total": m["store"],
            "rest": m["store"] - m["validation"] - m["kdf"] - m["write"], "http_total": m["http"],
            "http": m["http"] - m["store"], "summaries": summaries * 1000}


async def _refresh(services: Services) -> float:
    started = time.perf_counter()
    async with services.db.write() as s:
        await s.run_sync(lambda sync: refresh_summaries(sync.connection(), tz=services.settings.timezone,
                                                        calendar=services.store.calendar))
    return time.perf_counter() - started


def run(db_urls: list[str], settings: Settings, case_body: Callable[[int], dict], n: int = 200) -> dict:
    return asyncio.run(profile(db_urls, settings, case_body, n))
