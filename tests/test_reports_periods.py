"""Report periods: constructors, 同比 and 环比, buckets, UTC bounds, and the offset stretches SQLite
uses for local time."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cases.reports.periods import Period, PeriodError, default_period
from cases.reports.sqltime import offset_stretches

D = dt.date


def test_constructors_and_labels():
    assert Period.month(2026, 2) == Period(D(2026, 2, 1), D(2026, 3, 1))
    assert Period.month(2026, 12).end == D(2027, 1, 1)
    assert Period.year(2026).days == 365 and Period.year(2026).label == "2026年"
    assert Period.week(D(2026, 11, 1)) == Period(D(2026, 10, 26), D(2026, 11, 2))  # a Sunday
    assert Period.between(D(2026, 11, 3), D(2026, 11, 5)).days == 3
    assert Period.month(2026, 11).label == "2026年11月"
    assert Period.parse("2026-11-03", "2026-11-05").label == "2026-11-03 至 2026-11-05"


def test_comparison_periods():
    nov = Period.month(2026, 11)
    assert nov.previous() == Period.month(2026, 10)
    assert nov.year_before() == Period.month(2025, 11)
    assert Period.month(2026, 3).previous() == Period.month(2026, 2)     # 28 days, still the whole month
    assert Period.year(2026).previous() == Period.year(2025)
    q1 = Period(D(2026, 1, 1), D(2026, 4, 1))
    assert q1.previous() == Period(D(2025, 10, 1), D(2026, 1, 1))
    ten_days = Period.between(D(2026, 11, 11), D(2026, 11, 20))
    assert ten_days.previous() == Period.between(D(2026, 11, 1), D(2026, 11, 10))
    assert ten_days.year_before() == Period.between(D(2025, 11, 11), D(2025, 11, 20))
    leap = Period.day(D(2028, 2, 29))
    assert leap.year_before() == Period.day(D(2027, 2, 28))
    assert Period.month(2028, 2).year_before() == Period.month(2027, 2)
    other = Period.month(2020, 1)
    assert nov.compared("custom", other) is other
    with pytest.raises(PeriodError, match="compare"):
        nov.compared("custom")
    with pytest.raises(PeriodError, match="compare"):
        nov.compared("weekly")


def test_bad_periods_are_refused():
    with pytest.raises(PeriodError, match="before"):
        Period.between(D(2026, 11, 5), D(2026, 11, 3))
    with pytest.raises(PeriodError, match="YYYY-MM-DD"):
        Period.parse("2026-11-31", "2026-12-01")
    with pytest.raises(PeriodError):
        Period(D(2026, 1, 2), D(2026, 1, 2))
    with pytest.raises(PeriodError, match="granularity"):
        Period.month(2026, 1).buckets("hour")


def test_buckets():
    nov = Period.month(2026, 11)
    assert nov.buckets("day")[0] == "2026-11-01" and len(nov.buckets("day")) == 30
    assert nov.buckets("week") == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23",
                                   "2026-11-30"]
    assert Period(D(2025, 12, 1), D(2026, 2, 1)).buckets("month") == ["2025-12", "2026-01"]
    assert Period(D(2025, 12, 1), D(2026, 2, 1)).buckets("year") == ["2025", "2026"]


def test_utc_bounds_are_local_midnights():
    start, end = Period.month(2026, 11).utc_bounds("Asia/Shanghai")
    assert start == dt.datetime(2026, 10, 31, 16, tzinfo=dt.timezone.utc)
    assert end == dt.datetime(2026, 11, 30, 16, tzinfo=dt.timezone.utc)


def test_default_period_is_the_month_so_far():
    assert default_period(D(2026, 11, 28)) == Period(D(2026, 11, 1), D(2026, 11, 29))
    assert default_period(D(2026, 12, 1)) == Period.month(2026, 11)


def test_offset_stretches():
    utc = dt.timezone.utc
    year = (dt.datetime(2026, 1, 1, tzinfo=utc), dt.datetime(2027, 1, 1, tzinfo=utc))
    assert offset_stretches(ZoneInfo("Asia/Shanghai"), *year) == [(year[0], 480)]
    ny = offset_stretches(ZoneInfo("America/New_York"), *year)
    assert [m for _, m in ny] == [-300, -240, -300]
    assert ny[1][0] == dt.datetime(2026, 3, 8, 7, tzinfo=utc)   # 02:00 EST
    assert ny[2][0] == dt.datetime(2026, 11, 1, 6, tzinfo=utc)  # 02:00 EDT
