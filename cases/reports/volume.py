"""业务量 and 话务量: cases by a dimension and by time bucket, conversations by medium."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, select

from ..models import Case, Category, Conversation, Department, Handoff, ReportDaily, User
from ..workflow import CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS, Channel, Kind, Status
from . import daily
from .base import Chart, Column, Context, ReportInputError, Table
from .sqltime import bucket, day_bucket, local_day

UNKNOWN = "（未分类）"
NO_DEPARTMENT = "（未派单）"

DIMENSIONS = {
    "date": "日期",
    "kind": "类型",
    "category_top": "一级分类",
    "category": "分类（两级）",
    "channel": "渠道",
    "department": "承办单位",
    "status": "状态",
}

_VOCABULARIES = {"kind": (Case.kind, Kind, KIND_LABELS), "channel": (Case.channel, Channel, CHANNEL_LABELS),
                 "status": (Case.status, Status, STATUS_LABELS)}

# Conversations by medium: which conversation channels are calls, chats and mails. Channels
# added later (voice, mail) only need their code listed here.
MEDIA = {
    "call": ("voice", "phone", "phone_self", "phone_agent", "asterisk", "sip"),
    "chat": ("webchat", "rest", "chat"),
    "mail": ("email", "mail", "mayor_mailbox"),
}
MEDIA_LABELS = {"call": "来电", "chat": "在线会话", "mail": "邮件", "other": "其他"}
CASE_CHANNEL_MEDIA = {"phone_self": "call", "phone_agent": "call", "webchat": "chat", "email": "mail"}


def _bucket(ctx: Context, column, granularity: str):
    start, end = ctx.bounds
    return bucket(column, granularity, ctx.dialect, ctx.zone, start, end)


def volume(ctx: Context, by: str = "kind", granularity: str = "month") -> Table:
    """Cases registered in the period, one row per value of `by`, one column per time bucket,
    with a total column and a total row; `by='category'` adds a subtotal row per top category."""
    if by not in DIMENSIONS:
        raise ReportInputError("by", f"{by!r} is not one of {', '.join(DIMENSIONS)}")
    buckets = ctx.period.buckets(granularity)
    dim = {"date": None, "kind": Case.kind, "channel": Case.channel, "status": Case.status,
           "department": Case.department_id, "category": Case.category_id,
           "category_top": Case.category_id}[by]
    # two steps: count per local day (the daily summary, or the period's cases), then per bucket
    per_day, decode = _per_day(ctx, by, dim)
    b = day_bucket(per_day.c.day, granularity, ctx.dialect).label("b")
    by_bucket = select(b, *([per_day.c.d] if dim is not None else []), per_day.c.n).subquery()
    group = [by_bucket.c.b] + ([by_bucket.c.d] if dim is not None else [])
    counts: dict[object, dict[str, int]] = {}
    for row in ctx.conn.execute(select(*group, func.sum(by_bucket.c.n).label("n")).group_by(*group)):
        key = decode(row.d) if dim is not None else "all"
        counts.setdefault(key, {})[row.b] = int(row.n)

    columns = [Column("label", DIMENSIONS[by], "text")] + [Column(b, b) for b in buckets] + [Column("total", "合计")]

    def make_row(label: str, per_bucket: dict[str, int], **extra) -> dict:
        row = {"label": label, **{b: per_bucket.get(b, 0) for b in buckets}, **extra}
        row["total"] = sum(row[b] for b in buckets)
        return row

    if by == "date":
        per = counts.get("all", {})
        rows = [{"label": b, "count": per.get(b, 0)} for b in buckets]
        total = {"label": "合计", "count": sum(r["count"] for r in rows)}
        return Table("volume_date", f"业务量（按{_granularity_label(granularity)}）",
                     [Column("label", "日期", "text"), Column("count", "受理量")], rows, total,
                     Chart("line" if len(rows) > 12 else "bar", "label", ["count"]), period=ctx.period.label)

    rows: list[dict] = []
    if by in _VOCABULARIES:
        _, enum, labels = _VOCABULARIES[by]
        known = [m.value for m in enum]
        for code in known + sorted(k for k in counts if k not in known):
            if code in counts:
                rows.append(make_row(labels.get(enum(code), (code,))[0] if code in known else str(code),
                                     counts[code], code=code))
    elif by == "department":
        names = dict(ctx.conn.execute(select(Department.id, Department.name)).all())
        for dept_id, per in counts.items():
            rows.append(make_row(names.get(dept_id, NO_DEPARTMENT) if dept_id is not None else NO_DEPARTMENT,
                                 per, code=dept_id))
        rows.sort(key=lambda r: (r["code"] is None, -r["total"], r["label"]))
    else:
        rows = _category_rows(ctx, counts, make_row, two_levels=(by == "category"))
    plain = [r for r in rows if not r.get("subtotal")]
    total = make_row("合计", {b: sum(r[b] for r in plain) for b in buckets})
    chart = Chart("pie" if by in ("kind", "channel") else "bar", "label", ["total"])
    return Table(f"volume_{by}", f"业务量（按{DIMENSIONS[by]}，按{_granularity_label(granularity)}）",
                 columns, rows, total, chart, period=ctx.period.label)


def _per_day(ctx: Context, by: str, dim):
    """(a subquery of day, d (the dimension's value, unless by date), n, and how to read d back)."""
    if daily.ready(ctx):
        stored = {"date": "all", "category_top": "category"}.get(by, by)
        cols = [ReportDaily.day.label("day")] + ([ReportDaily.value.label("d")] if dim is not None else [])
        q = select(*cols, ReportDaily.cases.label("n")).where(*daily.period_rows(ctx, stored))
        return q.subquery(), lambda v: daily.decode(stored, v)
    start, end = ctx.bounds
    inner_cols = [local_day(Case.created_at, ctx.dialect, ctx.zone, start, end).label("day")]
    if dim is not None:
        inner_cols.append(dim.label("d"))
    rows_ = select(*inner_cols).where(*ctx.case_conditions()).subquery()
    group = [rows_.c.day] + ([rows_.c.d] if dim is not None else [])
    return select(*group, func.count().label("n")).group_by(*group).subquery(), lambda v: v


def _category_rows(ctx: Context, counts, make_row, two_levels: bool) -> list[dict]:
    cats = ctx.conn.execute(select(Category.id, Category.name, Category.parent_id, Category.position)
                            .order_by(Category.position, Category.id)).all()
    top_of = {c.id: (c.parent_id or c.id) for c in cats}
    name = {c.id: c.name for c in cats}
    rows: list[dict] = []
    tops = [c for c in cats if c.parent_id is None]
    for top in tops:
        members = [cid for cid in counts if cid is not None and top_of.get(cid) == top.id]
        if not members:
            continue
        summed: dict[str, int] = {}
        for cid in members:
            for b, n in counts[cid].items():
                summed[b] = summed.get(b, 0) + n
        if not two_levels:
            rows.append(make_row(top.name, summed, code=top.id))
            continue
        rows.append(make_row(f"{top.name} 小计", summed, code=top.id, subtotal=True, level=0))
        for cid in sorted(members, key=lambda i: (i != top.id, [c.position for c in cats if c.id == i][0])):
            label = name[cid] if cid != top.id else f"{top.name}（未细分）"
            rows.append(make_row(label, counts[cid], code=cid, level=1))
    if None in counts or any(cid not in top_of for cid in counts if cid is not None):
        per: dict[str, int] = {}
        for cid, buckets in counts.items():
            if cid is None or cid not in top_of:
                for b, n in buckets.items():
                    per[b] = per.get(b, 0) + n
        rows.append(make_row(UNKNOWN, per, code=None, level=0))
    return rows


def _granularity_label(granularity: str) -> str:
    return {"day": "日", "week": "周", "month": "月", "year": "年"}[granularity]


HANDOFF_WITHIN = dt.timedelta(days=1)


def handoff_window(ctx: Context) -> list:
    """Hand-offs of the period's conversations are requested from the period's start to a day after
    its end (a conversation asks for a human within a day of starting)."""
    start, end = ctx.bounds
    return [Handoff.requested_at >= start, Handoff.requested_at < end + HANDOFF_WITHIN]


def handoffs_by_conversation(ctx: Context, taken_by: int | None = None):
    """Per conversation of the period: requests for a human, those taken, those dropped before an
    agent took them, read by request time (`handoff_window`), to be joined to the conversations."""
    conds = handoff_window(ctx)
    if taken_by is not None:
        conds.append(Handoff.taken_by == taken_by)
    return (select(Handoff.conversation_id.label("cid"), func.count().label("asked"),
                   func.count(Handoff.taken_at).label("taken"),
                   func.sum(case((and_(Handoff.released_at.isnot(None), Handoff.taken_at.is_(None)), 1),
                                 else_=0)).label("dropped"))
            .where(*conds).group_by(Handoff.conversation_id).subquery())


def _media(channel_column):
    return case(*[(channel_column.in_(codes), medium) for medium, codes in MEDIA.items()], else_="other")


def traffic(ctx: Context, granularity: str = "day") -> Table:
    """话务量: conversations started in the period by medium, and what became of the calls:
    self-served (no request for a human), transferred (asked for an agent), answered by an agent,
    abandoned (the request ended before an agent took it)."""
    start, end = ctx.bounds
    buckets = ctx.period.buckets(granularity)
    conds = [Conversation.started_at >= start, Conversation.started_at < end]
    f = ctx.filter
    if f.channels:
        media = sorted({CASE_CHANNEL_MEDIA[c] for c in f.channels if c in CASE_CHANNEL_MEDIA})
        conds.append(Conversation.channel.in_([code for m in media for code in MEDIA[m]]))
    h = handoffs_by_conversation(ctx, ctx._agent_id() if f.agent else None)
    inner = (select(_bucket(ctx, Conversation.started_at, granularity).label("b"),
                    _media(Conversation.channel).label("m"),
                    case((h.c.asked > 0, 1), else_=0).label("asked"),
                    case((h.c.taken > 0, 1), else_=0).label("taken"),
                    case((h.c.dropped > 0, 1), else_=0).label("dropped"))
             .select_from(Conversation).outerjoin(h, h.c.cid == Conversation.id).where(*conds))
    if f.agent:  # the conversations this agent took over
        inner = inner.where(h.c.taken > 0)
    sub = inner.subquery()
    q = (select(sub.c.b, sub.c.m, func.count().label("n"),
                func.sum(1 - sub.c.asked).label("self_served"),
                func.sum(sub.c.asked).label("transferred"),
                func.sum(sub.c.taken).label("answered"),
                func.sum(case((and_(sub.c.taken == 0, sub.c.dropped == 1), 1), else_=0)).label("abandoned"))
         .group_by(sub.c.b, sub.c.m))
    keys = ["calls", "calls_self_served", "calls_transferred", "calls_answered", "calls_abandoned",
            "chats", "chats_transferred", "mails", "other"]
    per = {b: dict.fromkeys(keys, 0) for b in buckets}
    for row in ctx.conn.execute(q):
        cell = per.setdefault(row.b, dict.fromkeys(keys, 0))
        if row.m == "call":
            cell["calls"] += row.n
            cell["calls_self_served"] += row.self_served
            cell["calls_transferred"] += row.transferred
            cell["calls_answered"] += row.answered
            cell["calls_abandoned"] += row.abandoned
        elif row.m == "chat":
            cell["chats"] += row.n
            cell["chats_transferred"] += row.transferred
        elif row.m == "mail":
            cell["mails"] += row.n
        else:
            cell["other"] += row.n
    rows = []
    for b in buckets:
        row = {"label": b, **per[b]}
        row["total"] = row["calls"] + row["chats"] + row["mails"] + row["other"]
        rows.append(row)
    total = {"label": "合计", **{k: sum(r[k] for r in rows) for k in keys + ["total"]}}
    columns = [Column("label", "日期", "text"), Column("calls", "来电"), Column("calls_self_served", "自助服务"),
               Column("calls_transferred", "转人工"), Column("calls_answered", "人工接听"),
               Column("calls_abandoned", "放弃"), Column("chats", "在线会话"),
               Column("chats_transferred", "会话转人工"), Column("mails", "邮件"), Column("other", "其他"),
               Column("total", "合计")]
    note = "来电、在线会话与邮件来自会话记录（按渠道）；类型、分类、承办单位条件不适用于话务量。"
    return Table("traffic", f"话务量（按{_granularity_label(granularity)}）", columns, rows, total,
                 Chart("stacked", "label", ["calls", "chats", "mails"]), note=note, period=ctx.period.label)


def agent_names(ctx: Context) -> dict[int, tuple[str, str]]:
    return {r.id: (r.agent_no or r.username, r.display_name or r.username)
            for r in ctx.conn.execute(select(User.id, User.agent_no, User.username, User.display_name))}
