"""Report periods in local dates, their comparison periods (同比, 环比) and their UTC bounds.

A period is a half-open range of local calendar days [start, end). Timestamps are stored in UTC,
so a period becomes a UTC range only through the hotline's time zone (`utc_bounds`).
"""
from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

GRANULARITIES = ("day", "week", "month", "year")


class PeriodError(ValueError):
    """A period that cannot be used; the message names the field, `code` and `params` say what
    is wrong for a translated message (reports.errors.<code>)."""

    def __init__(self, message: str, code: str = "choice", **params):
        self.code, self.params = code, params
        super().__init__(message)


def _shift_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (earlier when negative); the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


@dataclass(frozen=True)
class Period:
    start: dt.date  # first local day, inclusive
    end: dt.date    # first local day after the period (exclusive)

    def __post_init__(self):
        if self.end <= self.start:
            raise PeriodError(f"period: end {self.end} must be after start {self.start}", "last_before_first",
                              first=self.start, last=self.end - dt.timedelta(days=1))

    # ---- constructors ---------------------------------------------------------------------
    @classmethod
    def day(cls, day: dt.date) -> "Period":
        return cls(day, day + dt.timedelta(days=1))

    @classmethod
    def week(cls, day: dt.date) -> "Period":
        """The Monday-to-Sunday week containing `day`."""
        monday = day - dt.timedelta(days=day.weekday())
        return cls(monday, monday + dt.timedelta(days=7))

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        first = dt.date(year, month, 1)
        return cls(first, _shift_months(first, 1))

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))

    @classmethod
    def between(cls, first: dt.date, last: dt.date) -> "Period":
        """From `first` to `last`, both days included (what a person types in a form)."""
        if last < first:
            raise PeriodError(f"period: the last day {last} is before the first day {first}", "last_before_first",
                              first=first, last=last)
        return cls(first, last + dt.timedelta(days=1))

    @classmethod
    def parse(cls, first: str, last: str) -> "Period":
        try:
            a, b = dt.date.fromisoformat(first.strip()), dt.date.fromisoformat(last.strip())
        except ValueError:
            raise PeriodError("period: dates must be written YYYY-MM-DD", "date_format") from None
        return cls.between(a, b)

    # ---- what it is -----------------------------------------------------------------------
    @property
    def last(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def _whole_months(self) -> int | None:
        """The number of calendar months the period spans exactly, or None."""
        if self.start.day != 1 or self.end.day != 1:
            return None
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    @property
    def label(self) -> str:
        months = self._whole_months()
        if months == 12 and self.start.month == 1:
            return f"{self.start.year}年"
        if months == 1:
            return f"{self.start.year}年{self.start.month}月"
        if self.days == 1:
            return self.start.isoformat()
        return f"{self.start.isoformat()} 至 {self.last.isoformat()}"

    # ---- comparison periods -----------------------------------------------------------------
    def previous(self) -> "Period":
        """环比: the period just before, of the same length (whole months stay whole months)."""
        months = self._whole_months()
        if months:
            return Period(_shift_months(self.start, -months), self.start)
        return Period(self.start - dt.timedelta(days=self.days), self.start)

    def year_before(self) -> "Period":
        """同比: the same days one year earlier (29 February becomes 28 February)."""
        months = self._whole_months()
        if months:
            return Period(_shift_months(self.start, -12), _shift_months(self.end, -12))
        start = _shift_months(self.start, -12)
        return Period(start, start + dt.timedelta(days=self.days))

    def compared(self, how: str, other: "Period | None" = None) -> "Period":
        """The comparison period: 'yoy' (同比), 'mom' (环比) or 'custom' (the given `other`)."""
        if how == "yoy":
            return self.year_before()
        if how == "mom":
            return self.previous()
        if how == "custom":
            if other is None:
                raise PeriodError("compare: a custom comparison needs a second period", "compare_missing")
            return other
        raise PeriodError(f"compare: {how!r} is not one of yoy, mom, custom")

    # ---- UTC --------------------------------------------------------------------------------
    def utc_bounds(self, tz: str | ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The aware UTC instants of local midnight at start and at end."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        return tuple(dt.datetime.combine(d, dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)
                     for d in (self.start, self.end))

    def buckets(self, granularity: str) -> list[str]:
        """Every bucket key the period covers, in order (the keys `bucket_sql` produces)."""
        if granularity not in GRANULARITIES:
            raise PeriodError(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")
        keys: list[str] = []
        day = self.start
        while day < self.end:
            key = bucket_key(day, granularity)
            if not keys or keys[-1] != key:
                keys.append(key)
            day += dt.timedelta(days=1)
        return keys


def bucket_key(day: dt.date, granularity: str) -> str:
    if granularity == "day":
        return day.isoformat()
    if granularity == "week":  # the week's Monday
        return (day - dt.timedelta(days=day.weekday())).isoformat()
    if granularity == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if granularity == "year":
        return f"{day.year:04d}"
    raise PeriodError(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")


def default_period(today: dt.date) -> Period:
    """The month so far (the whole of yesterday's month on the 1st)."""
    day = today - dt.timedelta(days=1) if today.day == 1 else today
    return Period(dt.date(day.year, day.month, 1), day + dt.timedelta(days=1))
