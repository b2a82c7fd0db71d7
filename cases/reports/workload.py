"""工作量: per agent (by 工号) and per department (承办单位)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, literal_column, select

from ..models import Case, CaseEvent, Department, Handoff, ReportDaily
from . import daily
from .base import Chart, Column, Context, Table, add_totals
from .facts import flow_join
from .figures import SIGN_FOR_WORKING_DAYS, case_figures, open_past_deadline, sign_for_limits
from .volume import MEDIA, agent_names

AGENT_ACTIONS = {"register": "登记工单", "answer": "当场答复", "dispatch": "派单", "follow_up": "回访",
                 "remind": "催办", "close": "归档"}


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


DEPARTMENT_KEYS = ["received", "signed", "signed_on_time", "replied", "replied_on_time", "overdue", "returned",
                   "extended"]
# report column -> figure (figures.py); 超期 adds the open cases past their deadline
_DEPARTMENT_FIGURES = {"received": "cases", "signed": "signed", "signed_on_time": "signed_on_time",
                       "replied": "replied", "replied_on_time": "replied_on_time", "overdue": "replied_late",
                       "returned": "returned", "extended": "extended"}


def _department_figures(ctx: Context) -> dict:
    """department id (None: not dispatched) -> its figures, from the daily summary where it can
    answer, else from the period's cases and their event summary."""
    # grouped by an expression: SQLite would rather walk the department index (no sorting of
    # the groups) than read the period's range of the report index, i.e. every case, not a month
    dept = (Case.department_id + literal_column("0")).label("department_id")  # no parameter: asyncpg
    late = dict(ctx.conn.execute(select(dept, func.count()).where(
        *ctx.case_conditions(), open_past_deadline(ctx.now)).group_by(dept)).all())
    if daily.ready(ctx):
        q = (select(ReportDaily.value.label("department_id"),
                    *[func.sum(getattr(ReportDaily, f)).label(k) for k, f in _DEPARTMENT_FIGURES.items()])
             .where(*daily.period_rows(ctx, "department")).group_by(ReportDaily.value))
        decode = lambda v: daily.decode("department", v)  # noqa: E731
    else:
        start, end = ctx.bounds
        flow, on_case = flow_join(ctx.conn, start, end)  # first dispatch and sign-for, returned, extended
        limits, on_limits, sign_limit = sign_for_limits(ctx, flow)
        figures = case_figures(flow, sign_limit)
        q = (select(dept, *[figures[f].label(k) for k, f in _DEPARTMENT_FIGURES.items()])
             .select_from(Case).outerjoin(flow, on_case).outerjoin(limits, on_limits)
             .where(*ctx.case_conditions()).group_by(dept))
        decode = lambda v: v  # noqa: E731
    result = {}
    for row in ctx.conn.execute(q):
        dept_id = decode(row.department_id)
        figures = {k: int(getattr(row, k) or 0) for k in DEPARTMENT_KEYS}
        figures["overdue"] += late.get(dept_id, 0)
        result[dept_id] = figures
    return result


def departments(ctx: Context) -> Table:
    """Per department, for the cases registered in the period that it holds: received, signed for
    (on time: by the end of the next working day after dispatch), replied (on time: by the case's
    deadline, extensions included), overdue (replied late, or open past the deadline now),
    returned and extended (cases with at least one such event)."""
    names = dict(ctx.conn.execute(select(Department.id, Department.name)).all())
    rows = []
    for dept_id, figures in _department_figures(ctx).items():
        if dept_id is None:  # not dispatched: no department's work
            continue
        rows.append({"label": names.get(dept_id, str(dept_id)), **figures})
    rows.sort(key=lambda r: (-r["received"], r["label"]))
    total = add_totals(rows, DEPARTMENT_KEYS, "label")
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
