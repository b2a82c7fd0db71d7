"""Statistics and reports (统计报表): volumes, workload, quality, period comparisons.

`run_report(conn, name, period, ...)` is the one entry point: it runs one report of `REPORTS` for a
period and, when asked, the same report for a comparison period (同比 'yoy', 环比 'mom', or any
other period), and returns the tables. Every figure is an aggregation in the database.
Call `refresh_summaries(conn, ...)` in a write transaction first: it brings the per-case summary of
the event log (facts.py) and the daily summary (daily.py) up to date, which the reports read.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..calendar import WorkingCalendar
from ..models import CalendarDay, DeadlineRule
from .base import Chart, Column, Context, ReportFilter, ReportInputError, Table
from .compare import compare_tables
from .agent_daily import refresh_agent_daily
from .conversations import refresh_conversation_daily
from .daily import refresh_daily
from .facts import refresh_case_flow
from .periods import GRANULARITIES, Period, PeriodError, default_period
from .quality import hot_spots, quality, top_categories
from .service import service
from .traffic import traffic
from .volume import DIMENSIONS, volume
from .workload import agents, departments


@dataclass(frozen=True)
class ReportSpec:
    title: str
    run: Callable[..., Table]          # (ctx, by=..., granularity=...) -> Table
    compare_keys: Callable[[Table], list[str]]
    totals_only: bool = False          # rows are time buckets: compare the totals


def _volume_keys(t: Table) -> list[str]:
    return ["count"] if t.key == "volume_date" else ["total"]


REPORTS: dict[str, ReportSpec] = {
    "volume": ReportSpec("业务量", lambda ctx, by, granularity: volume(ctx, by, granularity), _volume_keys),
    "traffic": ReportSpec("话务量", lambda ctx, by, granularity: traffic(ctx, granularity),
                          lambda t: ["calls", "calls_answered", "calls_abandoned", "chats", "mails", "total"],
                          totals_only=True),
    "agents": ReportSpec("话务员工作量", lambda ctx, by, granularity: agents(ctx),
                         lambda t: ["register", "answer", "calls", "talk"]),
    "departments": ReportSpec("承办单位工作量", lambda ctx, by, granularity: departments(ctx),
                              lambda t: ["received", "signed_on_time", "replied_on_time", "overdue"]),
    "quality": ReportSpec("服务质量", lambda ctx, by, granularity: quality(ctx), lambda t: ["rate"]),
    "service": ReportSpec("服务评价", lambda ctx, by, granularity: service(ctx),
                          lambda t: ["rated", "satisfied_rate"]),
    "top_categories": ReportSpec("热点分类", lambda ctx, by, granularity: top_categories(ctx),
                                 lambda t: ["count"]),
    "hot_spots": ReportSpec("热点地区", lambda ctx, by, granularity: hot_spots(ctx), lambda t: ["count"]),
}
COMPARISONS = {"": "不对比", "yoy": "同比（去年同期）", "mom": "环比（上一期）", "custom": "与指定时段对比"}


@dataclass
class ReportResult:
    table: Table
    comparison: Table | None = None
    compare_period: Period | None = None
    tables: list[Table] = field(default_factory=list)   # the table, then the comparison


def load_calendar(conn: Connection, tz: str, workday_end: str = "18:00") -> WorkingCalendar:
    """The working-day calendar as the database holds it (holidays, make-up days, deadline rules)."""
    cal = WorkingCalendar(tz, workday_end)
    cal.exceptions = {d.day: d.working for d in conn.execute(select(CalendarDay.day, CalendarDay.working))}
    rules = conn.execute(select(DeadlineRule.kind, DeadlineRule.working_days))
    cal.rules.update({r.kind: r.working_days for r in rules})
    return cal


def refresh_summaries(conn: Connection, *, tz: str = "Asia/Shanghai", workday_end: str = "18:00",
                      calendar: WorkingCalendar | None = None,
                      now: dt.datetime | None = None, rebuild: bool = True) -> tuple[int, int, int, int]:
    """The summaries up to date, in the caller's write transaction: (cases, days of cases, days of
    conversations, days of agents' work) summarized again. `rebuild=False` leaves a daily summary
    that must be built whole (the first time, or after the zone or calendar changed) to a later
    call: a report request should not read every case of the database; it reads the cases of its
    period meanwhile."""
    zone = ZoneInfo(tz)
    cases = refresh_case_flow(conn, now)
    days = refresh_daily(conn, zone, calendar or load_calendar(conn, tz, workday_end), now, rebuild)
    return (cases, days, refresh_conversation_daily(conn, zone, now, rebuild),
            refresh_agent_daily(conn, zone, now, rebuild))


def run_report(conn: Connection, name: str, period: Period, *, tz: str = "Asia/Shanghai",
               workday_end: str = "18:00", by: str = "kind", granularity: str = "month",
               compare: str = "", compare_with: Period | None = None,
               report_filter: ReportFilter | None = None, as_of: dt.datetime | None = None,
               calendar: WorkingCalendar | None = None, summary: bool = True) -> ReportResult:
    """`summary=False` reads the cases even where the daily summary could answer (tests compare)."""
    spec = REPORTS.get(name)
    if spec is None:
        raise ReportInputError("report", f"{name!r} is not one of {', '.join(REPORTS)}")
    if granularity not in GRANULARITIES:
        raise ReportInputError("granularity", f"{granularity!r} is not one of {', '.join(GRANULARITIES)}")
    if by not in DIMENSIONS:
        raise ReportInputError("by", f"{by!r} is not one of {', '.join(DIMENSIONS)}")
    ctx = Context(conn, period, ZoneInfo(tz), calendar or load_calendar(conn, tz, workday_end),
                  report_filter or ReportFilter(), as_of, summary)
    with _no_jit(conn):
        return _run(ctx, spec, period, by, granularity, compare, compare_with)


@contextlib.contextmanager
def _no_jit(conn: Connection):
    """PostgreSQL's JIT compiles these mid-sized aggregations for longer than they run (seconds
    against tens of milliseconds): off for the report's statements, restored afterwards."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET jit = off")
    try:
        yield
    finally:
        try:
            conn.exec_driver_sql("RESET jit")
        except DBAPIError:
            pass  # a failed transaction: rolling it back undoes the SET as well


def _run(ctx: Context, spec: ReportSpec, period: Period, by: str, granularity: str, compare: str,
         compare_with: Period | None) -> ReportResult:
    table = spec.run(ctx, by=by, granularity=granularity)
    result = ReportResult(table, tables=[table])
    if compare:
        try:
            other_period = period.compared(compare, compare_with)
        except PeriodError as exc:
            raise ReportInputError("compare", str(exc), exc.code, **exc.params) from None
        other = spec.run(ctx.for_period(other_period), by=by, granularity=granularity)
        labels = {"yoy": ("本期", "去年同期"), "mom": ("本期", "上期")}.get(compare, ("本期", "对比期"))
        result.comparison = compare_tables(table, other, spec.compare_keys(table), totals_only=spec.totals_only,
                                           current_label=labels[0], other_label=labels[1])
        result.compare_period = other_period
        result.tables.append(result.comparison)
    return result


__all__ = ["REPORTS", "COMPARISONS", "DIMENSIONS", "GRANULARITIES", "Chart", "Column", "Period", "PeriodError",
           "ReportFilter", "ReportInputError", "ReportResult", "Table", "default_period", "load_calendar",
           "refresh_agent_daily", "refresh_case_flow", "refresh_conversation_daily", "refresh_daily",
           "refresh_summaries", "run_report"]
