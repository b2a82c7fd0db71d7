"""Working days and deadlines.

A working day is Monday to Friday unless the calendar marks it a holiday, plus the weekend days
the calendar marks as worked (China's 调休). Deadlines fall at the end of the working day
(`workday_end`, local time) of the last allowed working day; 0 working days means "today, or the
next working day when today's working day is over or not a working day".
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .workflow import Kind, Urgency

DEFAULT_RULES = {"urgent": 0, Kind.CONSULTATION.value: 3, Kind.HELP.value: 3, Kind.COMPLAINT.value: 13,
                 Kind.REPORT.value: 13, Kind.SUGGESTION.value: 13, Kind.PRAISE.value: 13,
                 Kind.MAYOR_MAILBOX.value: 13}


class WorkingCalendar:
    def __init__(self, tz: str = "Asia/Shanghai", workday_end: str = "18:00",
                 exceptions: dict[dt.date, bool] | None = None, rules: dict[str, int] | None = None):
        self.tz = ZoneInfo(tz)
        hour, minute = (int(x) for x in workday_end.split(":"))
        self.workday_end = dt.time(hour, minute)
        self.exceptions = dict(exceptions or {})  # day -> working?
        self.rules = {**DEFAULT_RULES, **(rules or {})}

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.exceptions:
            return self.exceptions[day]
        return day.weekday() < 5

    def next_working_day(self, day: dt.date) -> dt.date:
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def end_of(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.workday_end, tzinfo=self.tz).astimezone(dt.timezone.utc)

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The end of the `days`-th working day after `start` (0: the current working day)."""
        local = start.astimezone(self.tz)
        day = local.date()
        # A request that arrives after hours or on a day off counts from the next working day.
        if not self.is_working_day(day) or local.time() >= self.workday_end:
            day = self.next_working_day(day)
        for _ in range(days):
            day = self.next_working_day(day)
        return self.end_of(day)

    def working_days_for(self, kind: Kind | str, urgency: Urgency | str = Urgency.NORMAL) -> int:
        if Urgency(urgency) is Urgency.URGENT:
            return self.rules["urgent"]
        return self.rules[Kind(kind).value]

    def deadline(self, start: dt.datetime, kind: Kind | str, urgency: Urgency | str = Urgency.NORMAL) -> dt.datetime:
        return self.add_working_days(start, self.working_days_for(kind, urgency))

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Whole working days from start's day (exclusive) to end's day (inclusive); negative if end < start."""
        a, b = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        count, day = 0, a
        while day < b:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return sign * count
