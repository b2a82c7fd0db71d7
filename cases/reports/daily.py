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
from .base import Context
from .facts import SETTLE, flow_join
from .figures import MEASURES, case_figures, sign_for_limits
from .periods import Period
from .sqltime import local_day

NAME = "daily"
DIMENSIONS = {"kind": Case.kind, "channel": Case.channel, "status": Case.status,
              "department": Case.department_id, "category": Case.category_id, "all": None}


def basis(zone: ZoneInfo, calendar: WorkingCalendar) -> str:
    """A fingerprint of what the summary depends on besides the cases: zone and calendar."""
    data = [zone.key, calendar.workday_end.isoformat(),
            sorted((d.isoformat(), bool(w)) for d, w in calendar.exceptions.items())]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:64]


def refresh_daily(conn: Connection, zone: ZoneInfo, calendar: WorkingCalendar,
                  now: dt.datetime | None = None) -> int:
    """Bring report_daily up to date inside the caller's transaction (after refresh_case_flow);
    returns the number of local days summarized again."""
    now = now or dt.datetime.now(dt.timezone.utc)
    mark = select(ReportWatermark.last_id, ReportWatermark.basis).where(ReportWatermark.name == NAME)
    if conn.dialect.name == "postgresql":
        mark = mark.with_for_update()
    row = conn.execute(mark).first()
    if row is None:
        conn.execute(insert(ReportWatermark).values(name=NAME, last_id=0, basis=""))
        row = conn.execute(mark).first()
    wanted = basis(zone, calendar)
    last = row.last_id if row.basis == wanted else 0  # another basis: everything again
    newest = conn.execute(select(func.max(CaseEvent.id)).where(CaseEvent.id > last)).scalar()
    if newest is None and row.basis == wanted:
        return 0
    settled = conn.execute(select(func.max(CaseEvent.id)).where(
        CaseEvent.id > last, CaseEvent.at <= now - SETTLE)).scalar()
    if last == 0:
        conn.execute(delete(ReportDaily))
        first, latest = conn.execute(select(func.min(Case.created_at), func.max(Case.created_at))).one()
        days = [] if first is None else [(_day(first, zone), _day(latest, zone) + dt.timedelta(days=1))]
    else:
        changed = select(CaseEvent.case_id).where(CaseEvent.id > last).distinct()
        created = conn.execute(select(Case.created_at).where(Case.id.in_(changed))).scalars()
        days = _runs({_day(at, zone) for at in created})
    for chunk in _chunks(days):
        _summarize(conn, chunk, zone, calendar, now)
    values = {"basis": wanted}
    if settled is not None:
        values["last_id"] = settled
    conn.execute(update(ReportWatermark).where(ReportWatermark.name == NAME).values(**values))
    return sum((end - start).days for start, end in days)


def ready(ctx: Context) -> bool:
    """Whether the summary can answer for this context: refreshed under its zone and calendar,
    and no condition it does not keep (the conditional queries read the cases)."""
    if not ctx.filter.empty or not ctx.summary:
        return False
    have = ctx.conn.execute(select(ReportWatermark.basis).where(ReportWatermark.name == NAME)).scalar()
    return have == basis(ctx.zone, ctx.calendar)


def period_rows(ctx: Context, dim: str):
    """The summary rows of one dimension for the context's period."""
    return [ReportDaily.dim == dim, ReportDaily.day >= ctx.period.start, ReportDaily.day < ctx.period.end]


def decode(dim: str, value: str):
    """The stored text back to what the cases hold: ids are numbers, '' is none."""
    if value == "":
        return None
    return int(value) if dim in ("department", "category") else value


def _day(at: dt.datetime, zone: ZoneInfo) -> dt.date:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(zone).date()


def _runs(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days merged into [first, end) ranges."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + dt.timedelta(days=1))
        else:
            runs.append((day, day + dt.timedelta(days=1)))
    return runs


def _chunks(runs: list[tuple[dt.date, dt.date]], days: int = 92):
    """Groups of ranges of at most `days` days each, split where longer, so that no statement
    reads more than a quarter of cases at once."""
    pieces = []
    for start, end in runs:
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
    utc = [Period(a, b).utc_bounds(zone) for a, b in ranges]
    in_ranges = or_(*[and_(Case.created_at >= a, Case.created_at < b) for a, b in utc])
    conn.execute(delete(ReportDaily).where(or_(*[and_(ReportDaily.day >= a, ReportDaily.day < b)
                                                 for a, b in ranges])))
    source = Case.__table__.outerjoin(flow, on_case).outerjoin(limits, on_limits)
    columns = ["day", "dim", "value", *MEASURES]
    for dim, column in DIMENSIONS.items():
        value = literal("", String) if column is None else func.coalesce(cast(column, String), literal("", String))
        group = [day] if column is None else [day, column]
        q = (select(day, literal(dim, String), value, *[figures[m] for m in MEASURES])
             .select_from(source).where(in_ranges).group_by(*group))
        conn.execute(insert(ReportDaily).from_select(columns, q))
