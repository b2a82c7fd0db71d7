"""The daily summary of each agent's work (report_agent_daily).

話务员工作量 over a year counts a year of case events and hand-offs (millions of rows). This keeps,
per local day, agent and action, the number of the agent's case events of that action (register,
answer, dispatch, ...) and, as the actions 'call' and 'chat', the conversations the agent took
over that day with their talk time. It follows the event log by id (like facts.py) and the
hand-offs by their take and release times (like conversations.py), and summarizes the days they
touch again.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from ..models import CaseEvent, Handoff, ReportAgentDaily, ReportWatermark
from .base import Context
from .conversations import MEDIA
from .daily import chunks, local_date, runs, utc_ranges, within
from .facts import SETTLE, basis_of, lock_watermark
from .periods import Period
from .sqltime import local_day

NAME = "agents"
AGENT_ACTIONS = {"register": "登记工单", "answer": "当场答复", "dispatch": "派单", "follow_up": "回访",
                 "remind": "催办", "close": "归档"}


def seconds_between(start, end, dialect: str):
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def event_counts(conds: list, day_expr=None):
    """(user, action[, day], n) of the agents' case events matching `conds`."""
    base = [CaseEvent.user_id.isnot(None), CaseEvent.action.in_(list(AGENT_ACTIONS)), *conds]
    cols = [CaseEvent.user_id.label("user_id"), CaseEvent.action.label("action")]
    sub = select(*cols, *([day_expr.label("d")] if day_expr is not None else [])).where(*base).subquery()
    group = [sub.c.user_id, sub.c.action] + ([sub.c.d] if day_expr is not None else [])
    return select(*group, func.count().label("n")).group_by(*group)


def takeovers(conds: list, dialect: str, day_expr=None):
    """(user[, day], calls, chats, talk seconds) of the conversations agents took over."""
    calls = Handoff.channel.in_(MEDIA["call"])
    talk = seconds_between(Handoff.taken_at, Handoff.released_at, dialect)
    sub = (select(Handoff.taken_by.label("user_id"), case((calls, 1), else_=0).label("call"),
                  case((and_(calls, Handoff.released_at.isnot(None)), talk), else_=0).label("talk"),
                  *([day_expr.label("d")] if day_expr is not None else []))
           .where(Handoff.taken_by.isnot(None), *conds).subquery())
    group = [sub.c.user_id] + ([sub.c.d] if day_expr is not None else [])
    return select(*group, func.sum(sub.c.call).label("calls"), func.sum(1 - sub.c.call).label("chats"),
                  func.sum(sub.c.talk).label("talk")).group_by(*group)


def refresh_agent_daily(conn: Connection, zone: ZoneInfo, now: dt.datetime | None = None,
                        rebuild: bool = True) -> int:
    """Bring report_agent_daily up to date in the caller's transaction; returns the days redone
    (a whole build only with `rebuild`, as refresh_daily)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    row = lock_watermark(conn, NAME)
    whole = row.basis != zone.key or row.last_at is None
    if whole and not rebuild:
        return 0
    last = 0 if whole else row.last_id
    settled = conn.execute(select(func.max(CaseEvent.id)).where(
        CaseEvent.id > last, CaseEvent.at <= now - SETTLE)).scalar()
    if whole:
        conn.execute(delete(ReportAgentDaily))
        first = [conn.execute(select(func.min(CaseEvent.at))).scalar(),
                 conn.execute(select(func.min(Handoff.taken_at))).scalar()]
        latest = [conn.execute(select(func.max(CaseEvent.at))).scalar(),
                  conn.execute(select(func.max(Handoff.taken_at))).scalar()]
        first, latest = [t for t in first if t], [t for t in latest if t]
        days = [(local_date(min(first), zone), local_date(max(latest), zone) + dt.timedelta(days=1))] if first else []
    else:
        since = row.last_at
        touched = set(conn.execute(select(CaseEvent.at).where(
            CaseEvent.id > last, CaseEvent.user_id.isnot(None), CaseEvent.action.in_(list(AGENT_ACTIONS)))).scalars())
        touched |= set(conn.execute(select(Handoff.taken_at).where(
            Handoff.taken_at.isnot(None), or_(Handoff.taken_at >= since, Handoff.released_at >= since))).scalars())
        days = runs({local_date(at, zone) for at in touched})
    for chunk in chunks(days):
        _summarize(conn, chunk, zone)
    values = {"basis": zone.key, "last_at": now - SETTLE}
    if settled is not None:
        values["last_id"] = settled
    conn.execute(update(ReportWatermark).where(ReportWatermark.name == NAME).values(**values))
    return sum((end - start).days for start, end in days)


def _summarize(conn: Connection, ranges: list[tuple[dt.date, dt.date]], zone: ZoneInfo) -> None:
    start, end = Period(ranges[0][0], ranges[-1][1]).utc_bounds(zone)
    utc = utc_ranges(ranges, zone)
    dialect = conn.dialect.name
    rows: dict[tuple, dict] = {}
    at_in = within(CaseEvent.at, utc)
    for r in conn.execute(event_counts([at_in], local_day(CaseEvent.at, dialect, zone, start, end))):
        rows[(str(r.d), r.user_id, r.action)] = {"n": int(r.n), "talk": 0.0}
    taken_in = within(Handoff.taken_at, utc)
    for r in conn.execute(takeovers([taken_in], dialect, local_day(Handoff.taken_at, dialect, zone, start, end))):
        if r.calls:
            rows[(str(r.d), r.user_id, "call")] = {"n": int(r.calls), "talk": float(r.talk or 0)}
        if r.chats:
            rows[(str(r.d), r.user_id, "chat")] = {"n": int(r.chats), "talk": 0.0}
    conn.execute(delete(ReportAgentDaily).where(within(ReportAgentDaily.day, ranges)))
    if rows:
        conn.execute(insert(ReportAgentDaily), [
            {"day": dt.date.fromisoformat(d[:10]), "user_id": uid, "action": action, **cell}
            for (d, uid, action), cell in rows.items()])


def ready(ctx: Context) -> bool:
    """Whether the summary can answer: refreshed under the context's zone, and no condition on the
    cases (an agent's own figures are rows of the summary)."""
    f = ctx.filter
    if not ctx.summary or f.kinds or f.category or f.channels or f.department:
        return False
    return basis_of(ctx.conn, NAME) == ctx.zone.key


def period_sums(ctx: Context, agent_id: int | None):
    conds = [ReportAgentDaily.day >= ctx.period.start, ReportAgentDaily.day < ctx.period.end]
    if agent_id is not None:
        conds.append(ReportAgentDaily.user_id == agent_id)
    return (select(ReportAgentDaily.user_id, ReportAgentDaily.action, func.sum(ReportAgentDaily.n).label("n"),
                   func.sum(ReportAgentDaily.talk).label("talk"))
            .where(*conds).group_by(ReportAgentDaily.user_id, ReportAgentDaily.action))
