"""业务量: cases by a dimension and by time bucket."""
from __future__ import annotations

from sqlalchemy import func, select

from ..models import Case, Category, Department, ReportDaily, User
from ..workflow import CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS, Channel, Kind, Status
from . import daily
from .base import Chart, Column, Context, ReportInputError, Table
from .sqltime import day_bucket, local_day

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
        return Table("volume_date", f"业务量（按{granularity_label(granularity)}）",
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
    if len(buckets) > 1 and by in ("kind", "channel"):  # over time: one line (or bar group) per value
        chart = Chart("line" if len(buckets) > 6 else "bar", "label", list(buckets), by_row=True)
    else:  # a share of one period (pie) or many named values (bars)
        chart = Chart("pie" if by in ("kind", "channel") else "bar", "label", ["total"])
    return Table(f"volume_{by}", f"业务量（按{DIMENSIONS[by]}，按{granularity_label(granularity)}）",
                 columns, rows, total, chart, period=ctx.period.label)


def _per_day(ctx: Context, by: str, dim):
    """(a subquery of day, d (the dimension's value, unless by date), n, and how to read d back)."""
    group = {"date": None, "category_top": "category"}.get(by, by)
    found = daily.answer(ctx, group)
    if found:
        conds, value = found
        cols = [ReportDaily.day.label("day")] + ([value.label("d")] if dim is not None else [])
        q = select(*cols, ReportDaily.cases.label("n")).where(*conds)
        return q.subquery(), lambda v: daily.decode(group, v)
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


def granularity_label(granularity: str) -> str:
    return {"day": "日", "week": "周", "month": "月", "year": "年"}[granularity]


def agent_names(ctx: Context) -> dict[int, tuple[str, str]]:
    return {r.id: (r.agent_no or r.username, r.display_name or r.username)
            for r in ctx.conn.execute(select(User.id, User.agent_no, User.username, User.display_name))}
