"""Quality (满意度, 及时办结率, 办结率, 催办率, 重办率, 接通率, 自助服务率), top categories, hot spots."""
from __future__ import annotations

from sqlalchemy import func, select

from ..models import Case, Category, Conversation, Handoff, ReportDaily
from . import daily
from .base import Chart, Column, Context, Table, rate
from .facts import flow_join
from .figures import case_figures, one
from .volume import handoff_window


_QUALITY_FIGURES = ("cases", "finished", "finished_on_time", "replied", "rated", "satisfied", "average",
                    "dissatisfied", "reminded", "reopened")


def quality_counts(ctx: Context) -> dict[str, int]:
    """The numerators and denominators of every quality rate, counted in the database."""
    start, end = ctx.bounds
    if daily.ready(ctx):
        q = select(*[func.sum(getattr(ReportDaily, f)).label(f) for f in _QUALITY_FIGURES]) \
            .where(*daily.period_rows(ctx, "all"))
    else:
        flow, on_case = flow_join(ctx.conn, start, end)  # reminded, reopened (facts.py)
        figures = case_figures(flow)
        q = (select(*[figures[f].label(f) for f in _QUALITY_FIGURES])
             .select_from(Case).outerjoin(flow, on_case).where(*ctx.case_conditions()))
    counts = {k: int(v or 0) for k, v in ctx.conn.execute(q).one()._mapping.items()}

    conv_conds = [Conversation.started_at >= start, Conversation.started_at < end]
    cq = (select(func.count().label("conversations"),
                 func.count(Conversation.satisfaction).label("conv_rated"),
                 one(Conversation.satisfaction == 1).label("conv_satisfied"))
          .where(*conv_conds))
    counts.update({k: int(v or 0) for k, v in ctx.conn.execute(cq).one()._mapping.items()})
    # self-served: no request for a human. Counted from the (fewer) hand-offs: the conversations
    # of the period that asked, taken from the other side
    transferred = ctx.conn.execute(
        select(func.count(func.distinct(Handoff.conversation_id)))
        .select_from(Handoff).join(Conversation, Conversation.id == Handoff.conversation_id)
        .where(*handoff_window(ctx), *conv_conds)).scalar() or 0
    counts["self_served"] = counts["conversations"] - transferred
    hq = (select(func.count().label("handoffs"), func.count(Handoff.taken_at).label("handoffs_taken"))
          .where(Handoff.requested_at >= start, Handoff.requested_at < end))
    counts.update({k: int(v or 0) for k, v in ctx.conn.execute(hq).one()._mapping.items()})
    return counts


QUALITY_RATES = [
    # key, label, numerator, denominator
    ("satisfied_rate", "满意率", "satisfied", "rated"),
    ("average_rate", "一般率", "average", "rated"),
    ("dissatisfied_rate", "不满意率", "dissatisfied", "rated"),
    ("on_time_rate", "及时办结率", "finished_on_time", "finished"),
    ("closure_rate", "办结率", "finished", "cases"),
    ("reminder_rate", "催办率", "reminded", "cases"),
    ("reopen_rate", "重办率", "reopened", "replied"),
    ("answer_rate", "接通率", "handoffs_taken", "handoffs"),
    ("self_service_rate", "自助服务率", "self_served", "conversations"),
    ("conversation_satisfied_rate", "会话满意率", "conv_satisfied", "conv_rated"),
]


def quality(ctx: Context) -> Table:
    counts = quality_counts(ctx)
    rows = [{"label": label, "code": key, "numerator": counts[num], "denominator": counts[den],
             "rate": rate(counts[num], counts[den])} for key, label, num, den in QUALITY_RATES]
    columns = [Column("label", "指标", "text"), Column("numerator", "分子"), Column("denominator", "分母"),
               Column("rate", "比率", "rate")]
    note = ("满意度：本期受理工单的回访与评价（1 满意、2 一般、3 不满意）；及时办结率：办结工单中在办理时限内答复的比例；"
            "办结率：办结（含当场答复）占受理；催办率：被催办的工单占受理；重办率：重办的工单占已答复（含当场答复）；"
            "接通率：转人工请求中人工接起的比例；自助服务率：未转人工的会话占全部会话。")
    return Table("quality", "服务质量", columns, rows, None, Chart("bar", "label", ["rate"]), note=note,
                 period=ctx.period.label)


def top_categories(ctx: Context, limit: int = 10) -> Table:
    """The most frequent categories (the finest level a case has) and their share of the period."""
    if daily.ready(ctx):
        total = ctx.conn.execute(select(func.sum(ReportDaily.cases))
                                 .where(*daily.period_rows(ctx, "all"))).scalar() or 0
        sums = ctx.conn.execute(select(ReportDaily.value, func.sum(ReportDaily.cases))
                                .where(*daily.period_rows(ctx, "category"), ReportDaily.value != "")
                                .group_by(ReportDaily.value)).all()
        counted = sorted(((int(v), int(n)) for v, n in sums if n), key=lambda r: (-r[1], r[0]))[:limit]
    else:
        conds = ctx.case_conditions()
        total = ctx.conn.execute(select(func.count()).select_from(Case).where(*conds)).scalar() or 0
        sub = select(Case.category_id.label("cid")).where(*conds, Case.category_id.isnot(None)).subquery()
        q = (select(sub.c.cid, func.count().label("n")).group_by(sub.c.cid)
             .order_by(func.count().desc(), sub.c.cid).limit(limit))
        counted = [tuple(r) for r in ctx.conn.execute(q)]
    cats = {c.id: c for c in ctx.conn.execute(select(Category.id, Category.name, Category.parent_id))}
    rows = []
    for rank, (cid, n) in enumerate(counted, 1):
        cat = cats.get(cid)
        parent = cats.get(cat.parent_id) if cat and cat.parent_id else None
        label = f"{parent.name}/{cat.name}" if parent else (cat.name if cat else str(cid))
        rows.append({"rank": rank, "label": label, "count": n, "share": rate(n, total)})
    columns = [Column("rank", "排名"), Column("label", "分类", "text"), Column("count", "件数"),
               Column("share", "占比", "rate")]
    return Table("top_categories", "热点分类", columns, rows, None, Chart("bar", "label", ["count"]),
                 note=f"本期受理共 {total} 件。", period=ctx.period.label)


def hot_spots(ctx: Context, limit: int = 10) -> Table:
    """Places named most often: the location text as given, trimmed, grouped exactly."""
    conds = ctx.case_conditions()
    place = func.trim(Case.location)
    sub = select(place.label("place"), Case.id.label("cid")).where(*conds, Case.location != "").subquery()
    # ties go to the place named first (collations differ between databases; ids do not)
    q = (select(sub.c.place, func.count().label("n")).where(sub.c.place != "").group_by(sub.c.place)
         .order_by(func.count().desc(), func.min(sub.c.cid)).limit(limit))
    total = ctx.conn.execute(select(func.count()).select_from(Case).where(*conds)).scalar() or 0
    rows = [{"rank": i, "label": r.place, "count": r.n, "share": rate(r.n, total)}
            for i, r in enumerate(ctx.conn.execute(q), 1)]
    columns = [Column("rank", "排名"), Column("label", "地点", "text"), Column("count", "件数"),
               Column("share", "占比", "rate")]
    return Table("hot_spots", "热点地区", columns, rows, None, Chart("bar", "label", ["count"]),
                 period=ctx.period.label)

