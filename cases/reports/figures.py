"""The additive figures of a set of cases, as SQL aggregates.

One definition serves the live department and quality reports and the daily summary (daily.py),
so a figure read from the summary is counted exactly as the live query counts it.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, bindparam, case, func, text

from ..models import Case, UTCDateTime
from ..workflow import OPEN_STATUSES, Status
from .base import Context
from .sqltime import local_day

FINISHED = [Status.ANSWERED.value, Status.REPLIED.value, Status.FOLLOWED_UP.value, Status.CLOSED.value]
SIGN_FOR_WORKING_DAYS = 1   # a department signs for a case by the end of the next working day

# every figure daily.py keeps per day (the columns of report_daily after day, dim, value)
MEASURES = ("cases", "finished", "finished_on_time", "replied", "replied_on_time", "replied_late", "rated",
            "satisfied", "average", "dissatisfied", "signed", "signed_on_time", "returned", "extended",
            "reminded", "reopened", "first_case")


def one(cond):
    return func.sum(case((cond, 1), else_=0))


def open_past_deadline(now: dt.datetime):
    """Not replied, still open and past its deadline at `now`: the part of 超期 that changes with time
    (the other part, replied after the deadline, does not)."""
    return Case.replied_at.is_(None) & Case.status.in_([s.value for s in OPEN_STATUSES]) & (Case.deadline < now)


def case_figures(flow, sign_limit=None) -> dict:
    """name -> aggregate over cases outer-joined with their event summary `flow` (facts.py);
    `signed_on_time` needs the sign-for limit of each case (`sign_for_limits`)."""
    finished = Case.status.in_(FINISHED)
    figures = {
        "cases": func.count(),
        "finished": one(finished),
        "finished_on_time": one(finished & (Case.replied_at <= Case.deadline)),
        "replied": one(Case.replied_at.isnot(None)),
        "replied_on_time": one(Case.replied_at <= Case.deadline),
        "replied_late": one(Case.replied_at > Case.deadline),
        "rated": one(Case.satisfaction.isnot(None)),
        "satisfied": one(Case.satisfaction == 1),
        "average": one(Case.satisfaction == 2),
        "dissatisfied": one(Case.satisfaction == 3),
        "signed": one(flow.c.accepted_at.isnot(None)),
        "returned": one(flow.c.returned == 1),
        "extended": one(flow.c.extended == 1),
        "reminded": one(flow.c.reminded == 1),
        "reopened": one(flow.c.reopened == 1),
        "first_case": func.min(Case.id),   # not added up: ties between hot spots go to the earliest
    }
    if sign_limit is not None:
        figures["signed_on_time"] = one(flow.c.accepted_at <= sign_limit)
    return figures


def sign_for_limits(ctx: Context, flow):
    """(the limits table, its join condition to `flow`, the sign-for limit of a case's first
    dispatch): a case dispatched before the end of a working day must be signed for by the end of
    the next working day; one dispatched after it, a working day later (the working-day calendar)."""
    start, end = ctx.bounds
    limits = _limits_table(ctx).subquery("sl")
    until = max(ctx.now, end)  # dispatches follow registration: from the period's start to now
    dispatch_day = local_day(flow.c.dispatched_at, ctx.dialect, ctx.zone, start, until)
    limit = case((flow.c.dispatched_at < limits.c.cutoff, limits.c.early), else_=limits.c.late)
    return limits, limits.c.day == dispatch_day, limit


def _limits_table(ctx: Context):
    """A VALUES table: local day -> the end of that day's working hours (cutoff), the sign-for
    deadline of a dispatch made before the cutoff and of one made after it (instants in UTC)."""
    cal = ctx.calendar
    first = ctx.period.start
    last = max(ctx.period.end, ctx.now.astimezone(ctx.zone).date()) + dt.timedelta(days=1)
    data, day = [], first
    while day <= last:
        midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=ctx.zone)
        cutoff = dt.datetime.combine(day, cal.workday_end, tzinfo=ctx.zone)
        data.append((day, cutoff, cal.add_working_days(midnight, SIGN_FOR_WORKING_DAYS),
                     cal.add_working_days(cutoff, SIGN_FOR_WORKING_DAYS)))
        day += dt.timedelta(days=1)
    # VALUES with its default column names (column1, ...): the one spelling SQLite and
    # PostgreSQL share; the casts type the parameters for PostgreSQL's drivers.
    pg = ctx.dialect == "postgresql"
    ts, day_sql = ("CAST({} AS TIMESTAMP)", "CAST({} AS DATE)") if pg else ("{}", "{}")
    rows, params = [], []
    for i, (local_day_, cutoff, early_at, late_at) in enumerate(data):
        rows.append(f"({day_sql.format(f':d{i}')}, {ts.format(f':c{i}')}, {ts.format(f':e{i}')}, "
                    f"{ts.format(f':l{i}')})")
        params += [bindparam(f"d{i}", local_day_.isoformat(), String), bindparam(f"c{i}", cutoff, UTCDateTime),
                   bindparam(f"e{i}", early_at, UTCDateTime), bindparam(f"l{i}", late_at, UTCDateTime)]
    sql = ("SELECT column1 AS day, column2 AS cutoff, column3 AS early, column4 AS late FROM (VALUES "
           + ", ".join(rows) + ") AS v")
    return text(sql).bindparams(*params).columns(day=String, cutoff=UTCDateTime, early=UTCDateTime,
                                                 late=UTCDateTime)
