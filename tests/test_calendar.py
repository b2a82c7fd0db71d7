import datetime as dt
from zoneinfo import ZoneInfo

from cases.calendar import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


def test_thirteen_working_days_skip_weekends():
    cal = WorkingCalendar()
    # Monday 2026-11-23 09:00 -> 13 working days later is Thursday 2026-12-10, 18:00
    due = cal.deadline(local(2026, 11, 23, 9, 0), "complaint")
    assert due.astimezone(TZ) == local(2026, 12, 10, 18, 0)


def test_after_hours_and_weekends_count_from_the_next_working_day():
    cal = WorkingCalendar()
    saturday = cal.deadline(local(2026, 11, 28, 10, 0), "consultation")
    assert saturday.astimezone(TZ) == local(2026, 12, 3, 18, 0)  # Mon 30 + 3 working days
    evening = cal.deadline(local(2026, 11, 27, 19, 0), "help")  # Friday after 18:00
    assert evening.astimezone(TZ) == local(2026, 12, 3, 18, 0)


def test_urgent_is_the_same_working_day_or_the_next():
    cal = WorkingCalendar()
    assert cal.deadline(local(2026, 11, 26, 9, 0), "complaint", "urgent").astimezone(TZ) == local(2026, 11, 26, 18, 0)
    assert cal.deadline(local(2026, 11, 26, 20, 0), "complaint", "urgent").astimezone(TZ) == local(2026, 11, 27, 18, 0)


def test_holidays_and_make_up_working_days():
    # National Day week: Oct 1-7 off, Sunday Sep 27 and Saturday Oct 10 worked (调休)
    exceptions = {dt.date(2026, 10, d): False for d in range(1, 8)}
    exceptions.update({dt.date(2026, 9, 27): True, dt.date(2026, 10, 10): True})
    cal = WorkingCalendar(exceptions=exceptions)
    assert cal.is_working_day(dt.date(2026, 9, 27))
    assert not cal.is_working_day(dt.date(2026, 10, 5))
    # Wed Sep 30 09:00 + 3 working days: Oct 8 (Thu), 9 (Fri), 10 (Sat, worked)
    assert cal.deadline(local(2026, 9, 30, 9, 0), "consultation").astimezone(TZ) == local(2026, 10, 10, 18, 0)


def test_rules_are_configurable_and_working_days_are_counted():
    cal = WorkingCalendar(rules={"complaint": 5})
    assert cal.working_days_for("complaint") == 5
    assert cal.working_days_between(local(2026, 11, 27, 9), local(2026, 12, 1, 9)) == 2
    assert cal.working_days_between(local(2026, 12, 1, 9), local(2026, 11, 27, 9)) == -2
