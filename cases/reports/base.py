"""What every report shares: the filter, the context a report runs in, and the table it returns.

Reports are SQLAlchemy Core queries run on a synchronous Connection: the aggregation happens in
the database; Python only pivots, labels and adds up the groups the database returns. The web pages
call them through `AsyncSession.run_sync`, the benchmark and the tests on a plain engine.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from ..calendar import WorkingCalendar
from ..models import Case, CaseEvent, Category, Department, User
from ..workflow import Channel, Kind, Status
from .periods import Period

# a case merged into another about the same matter (cases/case_links.py) is counted once, as its master
COUNTED = Case.status != Status.MERGED.value


class ReportInputError(ValueError):
    """A filter or period value that cannot be used; `field` names it, nothing is run."""

    def __init__(self, field_name: str, message: str, code: str = "choice", **params):
        self.field = field_name
        self.code, self.params = code, params  # what the desk translates (reports.errors.<code>)
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True)
class ReportFilter:
    """Conditional query: every report can be narrowed by these (empty: no condition)."""
    kinds: tuple[str, ...] = ()
    category: str = ""          # a category code; a top-level code includes its children
    channels: tuple[str, ...] = ()
    department: str = ""        # a department code
    agent: str = ""             # an agent's 工号 (agent_no) or user name

    def __post_init__(self):
        for k in self.kinds:
            if k not in {x.value for x in Kind}:
                raise ReportInputError("kind", f"unknown kind {k!r}", "unknown", value=k)
        for c in self.channels:
            if c not in {x.value for x in Channel}:
                raise ReportInputError("channel", f"unknown channel {c!r}", "unknown", value=c)

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.category or self.channels or self.department or self.agent)


@dataclass
class Column:
    key: str
    label: str
    kind: str = "int"   # text | int | rate (0..1) | seconds | change (signed int) | pct (signed ratio)


@dataclass
class Chart:
    kind: str                        # bar | stacked | line | pie
    label_key: str                   # the column whose values name the bars / points / slices
    value_keys: list[str]            # one series per key
    by_row: bool = False             # a time series: the value keys are the x axis, each row a series


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict]
    total: dict | None = None
    chart: Chart | None = None
    note: str = ""
    period: str = ""

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def all_rows(self) -> list[dict]:
        return self.rows + ([self.total] if self.total else [])


@dataclass
class Context:
    """Where and how a report runs: the connection, the zone, the calendar and the moment."""
    conn: Connection
    period: Period
    zone: ZoneInfo
    calendar: WorkingCalendar
    filter: ReportFilter = field(default_factory=ReportFilter)
    as_of: dt.datetime | None = None   # "now" for overdue figures; tests fix it
    summary: bool = True               # may add up the daily summary (daily.py) where it can answer

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return self.period.utc_bounds(self.zone)

    @property
    def now(self) -> dt.datetime:
        return self.as_of or dt.datetime.now(dt.timezone.utc)

    def for_period(self, period: Period) -> "Context":
        return replace(self, period=period)

    # ---- filters as SQL ---------------------------------------------------------------------
    def _agent_id(self) -> int:
        value = self.filter.agent.strip()
        uid = self.conn.execute(select(User.id).where(or_(User.agent_no == value, User.username == value))).scalar()
        if uid is None:
            raise ReportInputError("agent", f"no agent with 工号 or user name {value!r}", "unknown", value=value)
        return uid

    def category_ids(self) -> list[int]:
        """The filter's category and, for a top category, its children."""
        code = self.filter.category
        ids = self.conn.execute(select(Category.id).where(or_(
            Category.code == code, Category.code.like(f"{code}.%")))).scalars().all()
        if not ids:
            raise ReportInputError("category", f"unknown category {code!r}", "unknown", value=code)
        return list(ids)

    def department_id(self) -> int:
        dept = self.conn.execute(select(Department.id).where(Department.code == self.filter.department)).scalar()
        if dept is None:
            raise ReportInputError("department", f"unknown department {self.filter.department!r}", "unknown",
                                   value=self.filter.department)
        return dept

    def case_conditions(self, time_column=Case.created_at) -> list:
        """The period (on `time_column`; None: no period) and the filter, as conditions on `cases`."""
        start, end = self.bounds
        conds = [] if time_column is None else [time_column >= start, time_column < end]
        conds.append(COUNTED)
        f = self.filter
        if f.kinds:
            conds.append(Case.kind.in_(f.kinds))
        if f.channels:
            conds.append(Case.channel.in_(f.channels))
        if f.category:
            conds.append(Case.category_id.in_(self.category_ids()))
        if f.department:
            conds.append(Case.department_id == self.department_id())
        if f.agent:  # the cases this agent registered
            registered = select(CaseEvent.case_id).where(and_(
                CaseEvent.action == "register", CaseEvent.user_id == self._agent_id()))
            conds.append(Case.id.in_(registered))
        return conds


def rate(numerator: int | None, denominator: int | None) -> float | None:
    """A ratio, or None where there is nothing to divide by (shown as '—', never as 0%)."""
    if not denominator:
        return None
    return (numerator or 0) / denominator


def add_totals(rows: list[dict], keys: list[str], label_key: str, label: str = "合计") -> dict:
    total = {label_key: label}
    for k in keys:
        total[k] = sum(r.get(k) or 0 for r in rows)
    return total
