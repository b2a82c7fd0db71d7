"""Local-time expressions in SQL for UTC-stored timestamps, on PostgreSQL and SQLite alike.

The offsets come from Python's zone database for the range a report reads: where the zone keeps
one offset over the range (Asia/Shanghai has had +08:00 since 1991), it is added as minutes, the
cheapest expression per row on either database. Where the offset changes inside the range
(daylight saving time), PostgreSQL converts with its own zone database (`AT TIME ZONE`) and SQLite,
which knows no zones, gets a CASE that picks the offset of each stretch.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, literal_column

from .periods import GRANULARITIES, PeriodError

_STEP = dt.timedelta(hours=1)


def offset_stretches(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """[(utc instant from which it holds, offset in minutes)] covering [start, end), first from -inf."""
    def offset(at: dt.datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds() // 60)

    stretches = [(start, offset(start))]
    at = start
    while at < end:
        nxt = min(at + _STEP * 24, end)
        if offset(nxt) != stretches[-1][1]:
            lo, hi = at, nxt  # the change lies in (lo, hi]: narrow it down to the second
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == stretches[-1][1]:
                    lo = mid
                else:
                    hi = mid
            stretches.append((hi.replace(microsecond=0), offset(hi)))
        at = nxt
    return stretches


def local_time(column, dialect_name: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The local wall-clock time of a UTC `column`, exact for instants in [start, end)."""
    stretches = offset_stretches(zone, start, end)
    if dialect_name == "postgresql":
        if len(stretches) == 1:  # one offset over the range: plain arithmetic, cheaper per row
            return column + literal_column(f"INTERVAL '{stretches[0][1]:d} minutes'")
        # a naive UTC timestamp -> timestamptz (UTC) -> naive local time. The zone is written into
        # the SQL, not bound: a statement grouped by this expression repeats it, and with
        # server-side parameters (asyncpg) two parameters are two different expressions to
        # PostgreSQL. ZoneInfo only opens keys of its database (letters, digits, _ + - /).
        return func.timezone(literal_column(f"'{zone.key}'"), func.timezone(literal_column("'UTC'"), column))
    if len(stretches) == 1:
        return func.datetime(column, f"{stretches[0][1]:+d} minutes")
    # the stretch that holds before the next change: shift the list by one
    whens = [(column < stretches[i + 1][0],
              func.datetime(column, f"{stretches[i][1]:+d} minutes")) for i in range(len(stretches) - 1)]
    return case(*whens, else_=func.datetime(column, f"{stretches[-1][1]:+d} minutes"))


def bucket(column, granularity: str, dialect_name: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The bucket key (text) of a UTC `column`: 'YYYY-MM-DD' for days and weeks (the Monday),
    'YYYY-MM' for months, 'YYYY' for years, as `periods.bucket_key` writes them."""
    if granularity not in GRANULARITIES:
        raise PeriodError(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")
    local = local_time(column, dialect_name, zone, start, end)
    if dialect_name == "postgresql":
        if granularity == "week":
            return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD")
        return func.to_char(local, {"day": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}[granularity])
    if granularity == "week":  # back six days, then forward to a Monday: the Monday on or before
        return func.date(local, "-6 days", "weekday 1")
    return func.strftime({"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}[granularity], local)


def local_day(column, dialect_name: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The local calendar day of a UTC `column`, as cheap to compute as each database allows (a
    date on PostgreSQL, 'YYYY-MM-DD' text on SQLite): group by it first, then by `day_bucket`."""
    local = local_time(column, dialect_name, zone, start, end)
    if dialect_name == "postgresql":
        return cast(local, Date)
    return func.date(local)


def day_bucket(day, granularity: str, dialect_name: str):
    """The bucket key of a `local_day` value (the same text `bucket` gives)."""
    if granularity not in GRANULARITIES:
        raise PeriodError(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")
    if dialect_name == "postgresql":
        if granularity == "week":
            return func.to_char(func.date_trunc("week", day), "YYYY-MM-DD")
        return func.to_char(day, {"day": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}[granularity])
    if granularity == "week":
        return func.date(day, "-6 days", "weekday 1")
    return func.substr(day, 1, {"day": 10, "month": 7, "year": 4}[granularity])
