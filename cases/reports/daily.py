"""The daily summary the reports add up over long periods (report_daily).

A report over twelve months would otherwise read every case of the year and of its comparison
year (hundreds of thousands of rows, seconds). report_daily holds, per local day and per value of
one dimension (kind, channel, status, department, category, or 'all'), the additive figures of
figures.py for the cases registered that day; a year is then about 40,000 small rows.

It is brought up to date like report_case_flow (facts.py), in the same transaction and after it:
the local days of the cases with events after the watermark are summarized again from their cases.
What it was computed under (the zone that makes the local days, the working-day calendar behind
on-time signing) is its `basis`: when either changes, the summary is rebuilt whole. Only the part
of 超期 that changes with the clock (open cases past their deadline) is not in it; reports count
that live (figures.open_past_deadline), from the few open cases.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, delete, func, insert, literal, or_, select, update
from sqlalchemy.engine import Connection

from ..calendar import WorkingCalendar
from ..models import Case, CaseEvent, ReportDaily, ReportWatermark
from .base import COUNTED, Context
from .facts import SETTLE, basis_of, flow_join, lock_watermark
from .figures import MEASURES, case_figures, sign_for_limits
from .periods import Period
from .sqltime import local_day

NAME = "daily"
DIMENSIONS = {"kind": (Case.kind,), "channel": (Case.channel,), "status": (Case.status,),
              "department": (Case.department_id,), "category": (Case.category_id,), "all": (),
              "place": (func.trim(Case.location),),
              # pairs: a department's figures under one condition on kind, channel or category
              # (and a category's under one department): conditional queries without the cases
              "department+kind": (Case.department_id, Case.kind),
              "department+channel": (Case.department_id, Case.channel),
              "department+category": (Case.department_id, Case.category_id)}


def basis(zone: ZoneInfo, calendar: WorkingCalendar) -> str:
    """A fingerprint of what the summary depends on besides the cases: zone and calendar."""
    data = [zone.key, calendar.workday_end.isoformat(),
            sorted((d.isoformat(), bool(w)) for d, w in calendar.exceptions.items())]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:64]


def refresh_daily(conn: Connection, zone: ZoneInfo, calendar: WorkingCalendar,
                  now: dt.datetime | None = None, rebuild: bool = True) -> int:
    """Bring report_daily up to date inside the caller's transaction (after refresh_case_flow);
    returns the number of local days summarized again. A whole build (the first, or under another
    basis) reads every case: with `rebuild=False` it is left for later (the reports read the cases
    meanwhile)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    row = lock_watermark(conn, NAME)
    wanted = basis(zone, calendar)
    if row.basis != wanted and not rebuild:
        return 0
    last = row.last_id if row.basis == wanted else 0  # another basis: everything again
    newest = conn.execute(select(func.max(CaseEvent.id)).where(CaseEvent.id > last)).scalar()
    if newest is None and row.basis == wanted:
        return 0
    settled = conn.execute(select(func.max(CaseEvent.id)).where(
        CaseEvent.id > last, CaseEvent.at <= now - SETTLE)).scalar()
    if last == 0:
        conn.execute(delete(ReportDaily))
        first, latest = conn.execute(select(func.min(Case.created_at), func.max(Case.created_at))).one()
        days = [] if first is None else [(local_date(first, zone), local_date(latest, zone) + dt.timedelta(days=1))]
    else:
        changed = select(CaseEvent.case_id).where(CaseEvent.id > last).distinct()
        created = conn.execute(select(Case.created_at).where(Case.id.in_(changed))).scalars()
        days = runs({local_date(at, zone) for at in created})
    for chunk in chunks(days):
        _summarize(conn, chunk, zone, calendar, now)
    values = {"basis": wanted}
    if settled is not None:
        values["last_id"] = settled
    conn.execute(update(ReportWatermark).where(ReportWatermark.name == NAME).values(**values))
    return sum((end - start).days for start, end in days)


def answer(ctx: Context, group: str | None):
    """(conditions on report_daily, the column that holds the group's value) when the summary can
    answer a report grouped by `group` (None: not grouped) for the context's period and filter:
    no condition, or one condition on kind, channel, category or department that the group's own
    dimension or a pair holds. None when it cannot: the report reads the cases."""
    if not ctx.summary or ctx.filter.agent:
        return None
    conditions = _conditions(ctx)
    if len(conditions) > 1:
        return None
    if basis_of(ctx.conn, NAME) != basis(ctx.zone, ctx.calendar):
        return None
    period = [ReportDaily.day >= ctx.period.start, ReportDaily.day < ctx.period.end]
    if not conditions:
        return [ReportDaily.dim == (group or "all"), *period], ReportDaily.value
    dim, values = conditions[0]
    if group in (None, dim):
        return [ReportDaily.dim == dim, ReportDaily.value.in_(values), *period], ReportDaily.value
    if f"{group}+{dim}" in DIMENSIONS:
        return [ReportDaily.dim == f"{group}+{dim}", ReportDaily.value2.in_(values), *period], ReportDaily.value
    if f"{dim}+{group}" in DIMENSIONS:
        return [ReportDaily.dim == f"{dim}+{group}", ReportDaily.value.in_(values), *period], ReportDaily.value2
    return None


def _conditions(ctx: Context) -> list[tuple[str, list[str]]]:
    """The filter as (dimension, allowed values as stored)."""
    f = ctx.filter
    out = []
    if f.kinds:
        out.append(("kind", list(f.kinds)))
    if f.channels:
        out.append(("channel", list(f.channels)))
    if f.category:
        out.append(("category", [str(i) for i in ctx.category_ids()]))
    if f.department:
        out.append(("department", [str(ctx.department_id())]))
    return out


def decode(dim: str, value: str):
    """The stored text back to what the cases hold: ids are numbers, '' is none."""
    if value == "":
        return None
    return int(value) if dim in ("department", "category") else value


def local_date(at: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The local calendar day of a stored UTC instant."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(zone).date()


def runs(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days merged into [first, end) ranges."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + dt.timedelta(days=1))
        else:
            runs.append((day, day + dt.timedelta(days=1)))
    return runs


def within(column, ranges) -> object:
    """`column` in any of the half-open [start, end) ranges (days or UTC instants)."""
    return or_(*[and_(column >= a, column < b) for a, b in ranges])


def utc_ranges(ranges: list[tuple[dt.date, dt.date]], zone: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """Ranges of local days as ranges of UTC instants."""
    return [Period(a, b).utc_bounds(zone) for a, b in ranges]


def chunks(ranges: list[tuple[dt.date, dt.date]], days: int = 92):
    """Groups of ranges of at most `days` days each, split where longer, so that no statement
    reads more than a quarter of cases at once."""
    pieces = []
    for start, end in ranges:
        while start < end:
            stop = min(end, start + dt.timedelta(days=days))
            pieces.append((start, stop))
            start = stop
    group: list = []
    for piece in pieces:
        if group and sum((e - s).days for s, e in group) + (piece[1] - piece[0]).days > days:
            yield group
            group = []
        group.append(piece)
    if group:
        yield group


def _summarize(conn: Connection, ranges: list[tuple[dt.date, dt.date]], zone: ZoneInfo,
               calendar: WorkingCalendar, now: dt.datetime) -> None:
    """Replace the summary rows of the local days in `ranges` by their cases' figures."""
    span = Period(ranges[0][0], ranges[-1][1])
    ctx = Context(conn, span, zone, calendar, as_of=now)
    start, end = ctx.bounds
    flow, on_case = flow_join(conn, start, end)
    limits, on_limits, sign_limit = sign_for_limits(ctx, flow)
    figures = case_figures(flow, sign_limit)
    day = local_day(Case.created_at, ctx.dialect, zone, start, end).label("day")
    in_ranges = within(Case.created_at, utc_ranges(ranges, zone)) & COUNTED
    conn.execute(delete(ReportDaily).where(within(ReportDaily.day, ranges)))
    source = Case.__table__.outerjoin(flow, on_case).outerjoin(limits, on_limits)
    columns = ["day", "dim", "value", "value2", *MEASURES]

    def text(column):
        return func.coalesce(cast(column, String), literal("", String))

    for dim, group in DIMENSIONS.items():
        values = [text(c) for c in group] + [literal("", String)] * (2 - len(group))
        q = (select(day, literal(dim, String), *values, *[figures[m] for m in MEASURES])
             .select_from(source).where(in_ranges).group_by(day, *group))
        conn.execute(insert(ReportDaily).from_select(columns, q))
