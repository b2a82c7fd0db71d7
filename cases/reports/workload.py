"""工作量: per agent (by 工号) and per department (承办单位)."""
from __future__ import annotations

from sqlalchemy import func, literal_column, select

from ..models import Case, CaseEvent, Department, Handoff, ReportDaily
from . import agent_daily, daily
from .agent_daily import AGENT_ACTIONS
from .base import Chart, Column, Context, Table, add_totals
from .facts import flow_join
from .figures import SIGN_FOR_WORKING_DAYS, case_figures, open_past_deadline, sign_for_limits
from .volume import agent_names

def _agent_figures(ctx: Context) -> dict[int, dict]:
    """user id -> its counts per action, calls, chats and talk time in the period: from the daily
    summary (agent_daily.py), or, under a condition on the cases, from the events and hand-offs."""
    f = ctx.filter
    agent_id = ctx._agent_id() if f.agent else None
    per: dict[int, dict] = {}
    if agent_daily.ready(ctx):
        for row in ctx.conn.execute(agent_daily.period_sums(ctx, agent_id)):
            cell = per.setdefault(row.user_id, {})
            cell[{"call": "calls", "chat": "chats"}.get(row.action, row.action)] = int(row.n or 0)
            if row.action == "call":
                cell["talk"] = row.talk or 0
    else:
        start, end = ctx.bounds
        conds = [CaseEvent.at >= start, CaseEvent.at < end]
        if f.kinds or f.category or f.channels or f.department:
            conds.append(CaseEvent.case_id.in_(select(Case.id).where(*ctx.case_conditions(time_column=None))))
        if agent_id is not None:
            conds.append(CaseEvent.user_id == agent_id)
        for row in ctx.conn.execute(agent_daily.event_counts(conds)):
            per.setdefault(row.user_id, {})[row.action] = int(row.n)
        h_conds = [Handoff.taken_at >= start, Handoff.taken_at < end]
        if agent_id is not None:
            h_conds.append(Handoff.taken_by == agent_id)
        for row in ctx.conn.execute(agent_daily.takeovers(h_conds, ctx.dialect)):
            cell = per.setdefault(row.user_id, {})
            cell["calls"], cell["chats"], cell["talk"] = int(row.calls or 0), int(row.chats or 0), row.talk or 0
    for cell in per.values():
        cell["talk"] = int(round(cell.get("talk", 0)))
    return per


def agents(ctx: Context) -> Table:
    """What each agent did in the period: cases registered, consultations answered on the spot,
    dispatches, follow-ups, reminders, archives (from the case events), and calls and chats taken
    over from the bot with their talk time (from the hand-offs)."""
    per = _agent_figures(ctx)
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
    found = daily.answer(ctx, "department")
    if found:
        conds, value = found
        q = (select(value.label("department_id"),
                    *[func.sum(getattr(ReportDaily, f)).label(k) for k, f in _DEPARTMENT_FIGURES.items()])
             .where(*conds).group_by(value))
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
