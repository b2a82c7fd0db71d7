"""Quality (满意度, 及时办结率, 办结率, 催办率, 重办率, 接通率, 自助服务率), top categories, hot spots."""
from __future__ import annotations

from sqlalchemy import func, literal, select

from ..models import Case, Category, Conversation, ReportConversationDaily as Daily, ReportDaily
from . import conversations, daily
from .base import Chart, Column, Context, Table, rate
from .facts import flow_join
from .figures import case_figures


_QUALITY_FIGURES = ("cases", "finished", "finished_on_time", "replied", "rated", "satisfied", "average",
                    "dissatisfied", "reminded", "reopened")


def quality_counts(ctx: Context) -> dict[str, int]:
    """The numerators and denominators of every quality rate, counted in the database."""
    start, end = ctx.bounds
    found = daily.answer(ctx, None)
    if found:
        q = select(*[func.sum(getattr(ReportDaily, f)).label(f) for f in _QUALITY_FIGURES]).where(*found[0])
    else:
        flow, on_case = flow_join(ctx.conn, start, end)  # reminded, reopened (facts.py)
        figures = case_figures(flow)
        q = (select(*[figures[f].label(f) for f in _QUALITY_FIGURES])
             .select_from(Case).outerjoin(flow, on_case).where(*ctx.case_conditions()))
    counts = {k: int(v or 0) for k, v in ctx.conn.execute(q).one()._mapping.items()}

    counts.update(_conversation_counts(ctx))
    return counts


def _conversation_counts(ctx: Context) -> dict[str, int]:
    """Conversations of the period, their ratings and those that never asked for a human; the
    hand-offs requested in the period and those taken (conditions on cases do not apply)."""
    start, end = ctx.bounds
    if conversations.ready(ctx):
        sums = select(*[func.sum(getattr(Daily, k)).label(k) for k in conversations.SUMMED]) \
            .where(*conversations.period_conditions(ctx))
        got = {k: int(v or 0) for k, v in ctx.conn.execute(sums).one()._mapping.items()}
    else:
        sub = conversations.outcomes([Conversation.started_at >= start, Conversation.started_at < end],
                                     literal(""))
        got = {k: int(v or 0) for k, v in ctx.conn.execute(select(*conversations.outcome_sums(sub)))
               .one()._mapping.items()}
        got.update({k: int(v or 0) for k, v in ctx.conn.execute(conversations.handoff_sums(start, end))
                    .one()._mapping.items()})
    return {"conversations": got["conversations"], "conv_rated": got["rated"], "conv_satisfied": got["satisfied"],
            "self_served": got["conversations"] - got["asked"], "handoffs": got["handoffs"],
            "handoffs_taken": got["handoffs_taken"]}


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
]


def quality(ctx: Context) -> Table:
    counts = quality_counts(ctx)
    rows = [{"label": label, "code": key, "numerator": counts[num], "denominator": counts[den],
             "rate": rate(counts[num], counts[den])} for key, label, num, den in QUALITY_RATES]
    columns = [Column("label", "指标", "text"), Column("numerator", "分子"), Column("denominator", "分母"),
               Column("rate", "比率", "rate")]
    note = ("满意率、一般率、不满意率：本期受理工单的回访结果（办理结果的评价：1 满意、2 一般、3 不满意；"
            "会话结束时对服务的评价另见“服务评价”报表）；及时办结率：办结工单中在办理时限内答复的比例；"
            "办结率：办结（含当场答复）占受理；催办率：被催办的工单占受理；重办率：重办的工单占已答复（含当场答复）；"
            "接通率：转人工请求中人工接起的比例；自助服务率：未转人工的会话占全部会话。")
    return Table("quality", "服务质量", columns, rows, None, Chart("bar", "label", ["rate"]), note=note,
                 period=ctx.period.label)


def top_categories(ctx: Context, limit: int = 10) -> Table:
    """The most frequent categories (the finest level a case has) and their share of the period."""
    whole, by_category = daily.answer(ctx, None), daily.answer(ctx, "category")
    if whole and by_category:
        total = ctx.conn.execute(select(func.sum(ReportDaily.cases)).where(*whole[0])).scalar() or 0
        conds, value = by_category
        sums = ctx.conn.execute(select(value, func.sum(ReportDaily.cases))
                                .where(*conds, value != "").group_by(value)).all()
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
    # ties go to the place named first (collations differ between databases; ids do not)
    whole, by_place = daily.answer(ctx, None), daily.answer(ctx, "place")
    if whole and by_place:
        conds, place = by_place
        q = (select(place.label("place"), func.sum(ReportDaily.cases).label("n")).where(*conds, place != "")
             .group_by(place).order_by(func.sum(ReportDaily.cases).desc(), func.min(ReportDaily.first_case))
             .limit(limit))
        total = ctx.conn.execute(select(func.sum(ReportDaily.cases)).where(*whole[0])).scalar() or 0
    else:
        conds = ctx.case_conditions()
        sub = select(func.trim(Case.location).label("place"), Case.id.label("cid")) \
            .where(*conds, Case.location != "").subquery()
        q = (select(sub.c.place, func.count().label("n")).where(sub.c.place != "").group_by(sub.c.place)
             .order_by(func.count().desc(), func.min(sub.c.cid)).limit(limit))
        total = ctx.conn.execute(select(func.count()).select_from(Case).where(*conds)).scalar() or 0
    rows = [{"rank": i, "label": r.place, "count": r.n, "share": rate(r.n, total)}
            for i, r in enumerate(ctx.conn.execute(q), 1)]
    columns = [Column("rank", "排名"), Column("label", "地点", "text"), Column("count", "件数"),
               Column("share", "占比", "rate")]
    return Table("hot_spots", "热点地区", columns, rows, None, Chart("bar", "label", ["count"]),
                 period=ctx.period.label)

