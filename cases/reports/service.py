"""服务评价: how citizens rated the SERVICE at the end of a conversation (the bot, or the agent who
took it over), per agent. Kept apart from the 满意率 of the quality report, which counts the cases'
OUTCOME ratings from the 回访 follow-up only (models.ServiceRating, migration 0015)."""
from __future__ import annotations

from sqlalchemy import func, select

from ..models import ServiceRating
from .base import Chart, Column, Context, Table, add_totals, rate
from .figures import one
from .volume import agent_names

KEYS = ["rated", "satisfied", "average", "dissatisfied"]


def service(ctx: Context) -> Table:
    start, end = ctx.bounds
    conds = [ServiceRating.rated_at >= start, ServiceRating.rated_at < end]
    if ctx.filter.agent:
        conds.append(ServiceRating.agent_id == ctx._agent_id())
    q = (select(ServiceRating.agent_id, func.count().label("rated"), one(ServiceRating.value == 1).label("satisfied"),
                one(ServiceRating.value == 2).label("average"), one(ServiceRating.value == 3).label("dissatisfied"))
         .where(*conds).group_by(ServiceRating.agent_id))
    names = agent_names(ctx)
    rows = []
    for r in ctx.conn.execute(q):
        number, name = names.get(r.agent_id, (str(r.agent_id), "")) if r.agent_id is not None else ("机器人", "未转人工")
        rows.append({"label": number, "name": name, **{k: int(getattr(r, k) or 0) for k in KEYS}})
    rows.sort(key=lambda r: (r["label"] == "机器人", r["label"]))
    total = add_totals(rows, KEYS, "label")
    total["name"] = ""
    for r in rows + [total]:
        r["satisfied_rate"] = rate(r["satisfied"], r["rated"])
        r["dissatisfied_rate"] = rate(r["dissatisfied"], r["rated"])
    columns = [Column("label", "工号", "text"), Column("name", "姓名", "text"), Column("rated", "评价数"),
               Column("satisfied", "满意"), Column("average", "一般"), Column("dissatisfied", "不满意"),
               Column("satisfied_rate", "服务满意率", "rate"), Column("dissatisfied_rate", "不满意率", "rate")]
    note = ("会话结束时市民对服务（机器人或接入的坐席）的评价，按评价时间计入本期，按最后接入该会话的坐席统计；"
            "不是工单办理结果的满意度（见服务质量报表的满意率，来自回访）。工单的分类、渠道、部门条件不适用。")
    return Table("service", "服务评价", columns, rows, total, Chart("bar", "label", ["satisfied_rate"]),
                 note=note, period=ctx.period.label)
