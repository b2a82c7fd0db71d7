"""Benchmark: every report on 1,000,000 realistic cases, on PostgreSQL and on SQLite.

1. Creates the PostgreSQL database `hotline_bench_reports` (on the server of --pg) and the SQLite
   file --sqlite, migrates both, loads the reference data, and fills both in one pass with the
   project's generator (`cases/reports/generate.py`: cases over three years up to today, with their
   events, conversations and hand-offs; COPY on PostgreSQL, executemany on SQLite). With --keep
   both stay for the next run, which reuses them when they hold --cases cases.
2. Builds the summaries the reports read (cases/reports/facts.py, daily.py, conversations.py,
   agent_daily.py) and prints how long each first build took.
3. Times each report as the desk runs it: the refresh of the summaries the desk does first, then
   every report over the last whole month with its comparison period (同比, and 环比 for volume)
   and over the last twelve whole months with 同比, and two conditional queries. Each figure is
   the median of --repeat runs after one warm-up run, in milliseconds, including the comparison.
4. Drops the database and deletes the file unless --keep.

    python bench/reports.py [--cases 1000000] [--repeat 3] [--keep] [--only postgres|sqlite]

Targets (issue 7): every report <= 1 s on PostgreSQL, <= 3 s on SQLite, on the 2-core machine.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cases.db import Database, make_sync_engine
from cases.migrate import upgrade
from cases.reference_data import load_reference_data
from cases.reports import (Period, ReportFilter, load_calendar, refresh_agent_daily, refresh_case_flow,
                           refresh_conversation_daily, refresh_daily, refresh_summaries, run_report)
from cases.reports.generate import generate

TZ = "Asia/Shanghai"
TARGET_MS = {"postgresql": 1000, "sqlite": 3000}
BENCH_DB = "hotline_bench_reports"


REFRESH = "summaries refreshed before a report"


def last_month(today: dt.date) -> Period:
    first = today.replace(day=1)
    prev = first - dt.timedelta(days=1)
    return Period.month(prev.year, prev.month)


def last_year(today: dt.date) -> Period:
    first = today.replace(day=1)
    return Period(dt.date(first.year - 1, first.month, 1), first)


def scenarios(today: dt.date) -> list[tuple[str, dict]]:
    month, year = last_month(today), last_year(today)
    s = []
    for by in ("kind", "category", "channel", "department", "status", "date"):
        s.append((f"volume by {by}, month by day, 同比", dict(name="volume", period=month, by=by,
                                                          granularity="day", compare="yoy")))
    s.append(("volume by category, month, 环比", dict(name="volume", period=month, by="category",
                                                     granularity="month", compare="mom")))
    s.append(("volume by kind, 12 months by month, 同比", dict(name="volume", period=year, by="kind",
                                                            granularity="month", compare="yoy")))
    s.append(("volume by department, 12 months by week, 同比", dict(name="volume", period=year, by="department",
                                                                 granularity="week", compare="yoy")))
    for name in ("traffic", "agents", "departments", "quality", "top_categories", "hot_spots"):
        s.append((f"{name}, month, 同比", dict(name=name, period=month, granularity="day", compare="yoy")))
    for name in ("traffic", "agents", "departments", "quality", "top_categories", "hot_spots"):
        s.append((f"{name}, 12 months, 同比", dict(name=name, period=year, granularity="month", compare="yoy")))
    # conditional queries are answered from the cases, not the daily summary
    complaints = ReportFilter(kinds=("complaint",))
    for name in ("departments", "quality"):
        s.append((f"{name}, 12 months, 同比, complaints only", dict(name=name, period=year, granularity="month",
                                                                  compare="yoy", report_filter=complaints)))
    return s


def prepare(urls: list[str], cases: int, today: dt.date, now: dt.datetime) -> None:
    for url in urls:
        upgrade(url)

        async def load(url=url):
            db = Database(url)
            await load_reference_data(db)
            await db.dispose()
        asyncio.run(load())
    start = today - dt.timedelta(days=3 * 365)
    t0 = time.perf_counter()
    counts = generate(urls, cases, start=start, end=today + dt.timedelta(days=1), now=now,
                      progress=lambda c, s: print(f"\r  generated {c['cases']:,} cases, {c['events']:,} events "
                                                  f"({s:.0f} s)", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    print(f"generated into {len(urls)} database(s) in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


def case_count(url: str) -> int:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM cases")).scalar()
    except sa.exc.DBAPIError:
        return -1
    finally:
        engine.dispose()


def time_reports(url: str, today: dt.date, now: dt.datetime, repeat: int) -> dict[str, float]:
    engine = make_sync_engine(url)
    results = {}
    try:
        with engine.connect() as conn:
            calendar = load_calendar(conn, TZ)
        # what the desk does before every report: both summaries brought up to date (the cases
        # with events of the last ten minutes are summarized again each time)
        times = []
        for i in range(repeat + 1):
            t0 = time.perf_counter()
            with engine.begin() as conn:
                refresh_summaries(conn, tz=TZ, calendar=calendar, now=now)
            if i:
                times.append((time.perf_counter() - t0) * 1000)
        results[REFRESH] = statistics.median(times)
        print(f"  {engine.dialect.name:10s} {REFRESH:52s} {results[REFRESH]:8.0f} ms", file=sys.stderr, flush=True)
        with engine.connect() as conn:
            for label, sc in scenarios(today):
                sc = dict(sc)
                name, period = sc.pop("name"), sc.pop("period")
                times = []
                for i in range(repeat + 1):
                    t0 = time.perf_counter()
                    run_report(conn, name, period, tz=TZ, as_of=now, calendar=calendar, **sc)
                    if i:  # the first run warms the cache
                        times.append((time.perf_counter() - t0) * 1000)
                results[label] = statistics.median(times)
                print(f"  {conn.dialect.name:10s} {label:52s} {results[label]:8.0f} ms", file=sys.stderr, flush=True)
    finally:
        engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server (any database on it)")
    p.add_argument("--sqlite", default=str(ROOT / "var" / "bench" / "reports.db"))
    p.add_argument("--only", choices=["postgres", "sqlite"])
    p.add_argument("--keep", action="store_true", help="keep (and reuse) the filled databases")
    args = p.parse_args(argv)

    now = dt.datetime.now(dt.timezone.utc)
    today = now.astimezone(ZoneInfo(TZ)).date()
    sqlite_path = Path(args.sqlite)
    sqlite_url = f"sqlite:///{sqlite_path}"
    pg_url = str(sa.engine.make_url(args.pg).set(database=BENCH_DB))
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT", future=True)
    targets = []
    if args.only != "sqlite":
        targets.append(pg_url)
    if args.only != "postgres":
        targets.append(sqlite_url)

    reuse = args.keep and all(case_count(u) == args.cases for u in targets)
    if not reuse:
        if pg_url in targets:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{BENCH_DB}"')
        if sqlite_url in targets:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        prepare(targets, args.cases, today, now)
    else:
        print(f"reusing the databases filled before ({args.cases:,} cases)")
        for url in targets:
            upgrade(url)  # indexes added since
    for url in targets:  # the summaries: per case (cases/reports/facts.py) and per day (daily.py)
        engine = make_sync_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            n = refresh_case_flow(conn, now)
        t1 = time.perf_counter()
        with engine.begin() as conn:
            days = refresh_daily(conn, ZoneInfo(TZ), load_calendar(conn, TZ), now)
        t2 = time.perf_counter()
        with engine.begin() as conn:
            conversation_days = refresh_conversation_daily(conn, ZoneInfo(TZ), now)
        t3 = time.perf_counter()
        with engine.begin() as conn:
            agent_days = refresh_agent_daily(conn, ZoneInfo(TZ), now)
        print(f"{engine.dialect.name}: event summary refreshed in {t1 - t0:.1f} s ({n:,} cases), "
              f"daily summary of cases in {t2 - t1:.1f} s ({days:,} days), "
              f"of conversations in {t3 - t2:.1f} s ({conversation_days:,} days), "
              f"of agents' work in {time.perf_counter() - t3:.1f} s ({agent_days:,} days)")
        if engine.dialect.name == "sqlite":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")  # statistics for the planner, as generate() left them
        engine.dispose()

    if pg_url in targets:  # index-only scans need the visibility map a fresh load lacks
        engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()

    figures = {}
    try:
        for url in targets:
            figures[make_sync_engine(url).dialect.name] = time_reports(url, today, now, args.repeat)
    finally:
        if not args.keep:
            if pg_url in targets:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        admin.dispose()

    names = [REFRESH] + [label for label, _ in scenarios(today)]
    backends = list(figures)
    print(f"\nreports on {args.cases:,} cases, median of {args.repeat} runs (ms); month = {last_month(today).label}")
    print(f"{'report':52s} " + " ".join(f"{b:>10s}" for b in backends))
    worst = {b: 0.0 for b in backends}
    for name in names:
        print(f"{name:52s} " + " ".join(f"{figures[b][name]:10.0f}" for b in backends))
        for b in backends:
            worst[b] = max(worst[b], figures[b][name])
    print(f"{'slowest':52s} " + " ".join(f"{worst[b]:10.0f}" for b in backends))
    print(f"{'target':52s} " + " ".join(f"{TARGET_MS[b]:10d}" for b in backends))
    met = all(worst[b] <= TARGET_MS[b] for b in backends)
    print("targets " + ("met" if met else "NOT met"))
    print(json.dumps({"cases": args.cases, "figures_ms": figures}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
