"""工作量: per agent (by 工号) and per department (承办单位)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, bindparam, case, func, literal_column, select, text

from ..models import Case, CaseEvent, Department, Handoff, UTCDateTime
from ..workflow import OPEN_STATUSES
from .base import Chart, Column, Context, Table, add_totals
from .facts import flow_join
from .sqltime import local_day
from .volume import MEDIA, agent_names

AGENT_ACTIONS = {"register": "登记工单", "answer": "当场答复", "dispatch": "派单", "follow_up": "回访",
                 "remind": "催办", "close": "归档"}
SIGN_FOR_WORKING_DAYS = 1   # a department signs for a case by the end of the next working day


def seconds_between(start, end, dialect: str):
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def agents(ctx: Context) -> Table:
    """What each agent did in the period: cases registered, consultations answered on the spot,
    dispatches, follow-ups, reminders, archives (from the case events), and calls and chats taken
    over from the bot with their talk time (from the hand-offs)."""
    start, end = ctx.bounds
    conds = [CaseEvent.at >= start, CaseEvent.at < end, CaseEvent.user_id.isnot(None),
             CaseEvent.action.in_(list(AGENT_ACTIONS))]
    case_filter = ctx.case_conditions(time_column=None)
    f = ctx.filter
    if f.kinds or f.category or f.channels or f.department:
        conds.append(CaseEvent.case_id.in_(select(Case.id).where(*case_filter)))
    agent_id = ctx._agent_id() if f.agent else None
    if agent_id is not None:
        conds.append(CaseEvent.user_id == agent_id)
    per: dict[int, dict] = {}
    q = select(CaseEvent.user_id, CaseEvent.action, func.count().label("n")).where(*conds) \
        .group_by(CaseEvent.user_id, CaseEvent.action)
    for row in ctx.conn.execute(q):
        per.setdefault(row.user_id, {})[row.action] = row.n

    calls = Handoff.channel.in_(MEDIA["call"])
    h_conds = [Handoff.taken_at >= start, Handoff.taken_at < end, Handoff.taken_by.isnot(None)]
    if agent_id is not None:
        h_conds.append(Handoff.taken_by == agent_id)
    talk = seconds_between(Handoff.taken_at, Handoff.released_at, ctx.dialect)
    hq = (select(Handoff.taken_by,
                 func.sum(case((calls, 1), else_=0)).label("calls"),
                 func.sum(case((calls, 0), else_=1)).label("chats"),
                 func.sum(case((and_(calls, Handoff.released_at.isnot(None)), talk), else_=0)).label("talk"))
          .where(*h_conds).group_by(Handoff.taken_by))
    for row in ctx.conn.execute(hq):
        cell = per.setdefault(row.taken_by, {})
        cell["calls"], cell["chats"], cell["talk"] = row.calls, row.chats, int(round(row.talk or 0))

    names = agent_names(ctx)
    keys = ["calls", "chats", "talk"] + list(AGENT_ACTIONS)
    rows = []
    for uid, cell in per.items():
        number, name = names.get(uid, (str(uid), ""))
        rows.append({"label": number, "name": name, **{k: cell.get(k, 0) for k in keys}})
    rows.sort(key=lambda r: r["label"])
    columns = ([Column("label", "工号", "text"), Column("name", "姓名", "text"), Column("calls", "接听来电"),
                Column("chats", "接待会话"), Column("talk", "通话时长", "seconds")]
               + [Column(a, label) for a, label in AGENT_ACTIONS.items()])
    total = add_totals(rows, keys, "label")
    total["name"] = ""
    return Table("agents", "话务员工作量", columns, rows, total, Chart("bar", "label", ["register", "answer"]),
                 note="通话时长：人工接听来电至结束的时长，仅含已结束的通话。", period=ctx.period.label)


def _sign_limits(ctx: Context):
    """A VALUES table: local day -> the end of that day's working hours (cutoff), the sign-for
    deadline of a dispatch made before the cutoff and of one made after it (working-day calendar;
    instants in UTC)."""
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


def departments(ctx: Context) -> Table:
    """Per department, for the cases registered in the period that it holds: received, signed for
    (on time: by the end of the next working day after dispatch), replied (on time: by the case's
    deadline, extensions included), overdue (replied late, or open past the deadline now),
    returned and extended (cases with at least one such event)."""
    start, end = ctx.bounds
    ev, on_case = flow_join(ctx.conn, start, end)  # first dispatch and sign-for, returned, extended
    limits = _sign_limits(ctx).subquery("sl")
    # dispatches follow registration: from the period's start to now
    until = max(ctx.now, end)
    dispatch_day = local_day(ev.c.dispatched_at, ctx.dialect, ctx.zone, start, until)
    sign_limit = case((ev.c.dispatched_at < limits.c.cutoff, limits.c.early), else_=limits.c.late)
    now = ctx.now
    open_statuses = [s.value for s in OPEN_STATUSES]
    one = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731
    # grouped by an expression: SQLite would rather walk the department index (no sorting of
    # the groups) than read the period's range of the report index, i.e. every case, not a month
    dept = (Case.department_id + literal_column("0")).label("department_id")  # no parameter: asyncpg
    q = (select(dept,
                func.count().label("received"),
                one(ev.c.accepted_at.isnot(None)).label("signed"),
                one(ev.c.accepted_at <= sign_limit).label("signed_on_time"),
                one(Case.replied_at.isnot(None)).label("replied"),
                one(Case.replied_at <= Case.deadline).label("replied_on_time"),
                one((Case.replied_at > Case.deadline)
                    | (Case.replied_at.is_(None) & Case.status.in_(open_statuses) & (Case.deadline < now)))
                .label("overdue"),
                one(ev.c.returned == 1).label("returned"),
                one(ev.c.extended == 1).label("extended"))
         .select_from(Case).outerjoin(ev, on_case)
         .outerjoin(limits, limits.c.day == dispatch_day)
         .where(*ctx.case_conditions())
         .group_by(dept))
    names = dict(ctx.conn.execute(select(Department.id, Department.name)).all())
    keys = ["received", "signed", "signed_on_time", "replied", "replied_on_time", "overdue", "returned", "extended"]
    rows = []
    for row in ctx.conn.execute(q):
        if row.department_id is None:  # not dispatched: no department's work
            continue
        rows.append({"label": names.get(row.department_id, str(row.department_id)),
                     **{k: int(getattr(row, k) or 0) for k in keys}})
    rows.sort(key=lambda r: (-r["received"], r["label"]))
    total = add_totals(rows, keys, "label")
    for r in rows + [total]:
        r["sign_rate"] = r["signed_on_time"] / r["received"] if r["received"] else None
        r["reply_rate"] = r["replied_on_time"] / r["received"] if r["received"] else None
    columns = [Column("label", "承办单位", "text"), Column("received", "受理"), Column("signed", "签收"),
               Column("signed_on_time", "按时签收"), Column("sign_rate", "按时签收率", "rate"),
               Column("replied", "答复"), Column("replied_on_time", "按时答复"),
               Column("reply_rate", "按时答复率", "rate"), Column("overdue", "超期"),
               Column("returned", "退回"), Column("extended", "延期")]
    note = (f"本期受理、现由该单位承办的工单；按时签收：派单后第{SIGN_FOR_WORKING_DAYS}个工作日结束前签收"
            "（节假日与调休按工作日历）；按时答复：在办理时限（含延期）内答复。")
    return Table("departments", "承办单位工作量", columns, rows, total,
                 Chart("bar", "label", ["received", "replied_on_time", "overdue"]), note=note,
                 period=ctx.period.label)
