"""Local-time expressions in SQL for UTC-stored timestamps, on PostgreSQL and SQLite alike.

PostgreSQL converts with its own time-zone database (`AT TIME ZONE`). SQLite knows no zones, so
the UTC offset is added as minutes; where the zone changes its offset inside the range (daylight
saving time), a CASE picks the offset of each stretch. Asia/Shanghai has had one offset (+08:00)
since 1991, so there the CASE has a single branch.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func

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
    if dialect_name == "postgresql":
        # a naive UTC timestamp -> timestamptz (UTC) -> naive local time
        return func.timezone(zone.key, func.timezone("UTC", column))
    stretches = offset_stretches(zone, start, end)
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


def local_date(column, dialect_name: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The local calendar day of a UTC `column` as 'YYYY-MM-DD' text on both databases."""
    return bucket(column, "day", dialect_name, zone, start, end)


def local_clock(column, dialect_name: str, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The local time of day as 'HH:MM' text."""
    local = local_time(column, dialect_name, zone, start, end)
    if dialect_name == "postgresql":
        return func.to_char(local, "HH24:MI")
    return func.strftime("%H:%M", local)


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
