"""话务量: conversations by medium and time bucket, and what became of the calls."""
from __future__ import annotations

from sqlalchemy import func, select

from ..models import Conversation, ReportConversationDaily as Daily
from . import conversations
from .base import Chart, Column, Context, Table
from .conversations import CASE_CHANNEL_MEDIA, media_channels
from .sqltime import bucket, day_bucket
from .volume import granularity_label

KEYS = ["calls", "calls_self_served", "calls_transferred", "calls_answered", "calls_abandoned",
        "chats", "chats_transferred", "mails", "other"]


def _sums(ctx: Context, granularity: str, media: list[str]):
    """Per bucket and medium: conversations, asked, answered (taken), abandoned; from the daily
    summary, or from the conversations when an agent's own are asked for."""
    f = ctx.filter
    if conversations.ready(ctx) and not f.agent:
        b = day_bucket(Daily.day, granularity, ctx.dialect).label("b")
        conds = conversations.period_conditions(ctx) + ([Daily.medium.in_(media)] if media else [])
        sub = select(b, Daily.medium.label("m"), Daily.conversations, Daily.asked, Daily.taken,
                     Daily.abandoned).where(*conds).subquery()
        return select(sub.c.b, sub.c.m, func.sum(sub.c.conversations).label("n"),
                      func.sum(sub.c.asked).label("transferred"), func.sum(sub.c.taken).label("answered"),
                      func.sum(sub.c.abandoned).label("abandoned")).group_by(sub.c.b, sub.c.m)
    start, end = ctx.bounds
    conds = [Conversation.started_at >= start, Conversation.started_at < end]
    if media:
        conds.append(Conversation.channel.in_(media_channels(media)))
    sub = conversations.outcomes(conds, bucket(Conversation.started_at, granularity, ctx.dialect, ctx.zone,
                                               start, end), ctx._agent_id() if f.agent else None)
    return select(sub.c.d.label("b"), sub.c.m, func.count().label("n"), func.sum(sub.c.asked).label("transferred"),
                  func.sum(sub.c.taken).label("answered"),
                  func.sum(sub.c.abandoned).label("abandoned")).group_by(sub.c.d, sub.c.m)


def traffic(ctx: Context, granularity: str = "day") -> Table:
    """话务量: conversations started in the period by medium, and what became of the calls:
    self-served (no request for a human), transferred (asked for an agent), answered by an agent,
    abandoned (the request ended before an agent took it)."""
    buckets = ctx.period.buckets(granularity)
    media = sorted({CASE_CHANNEL_MEDIA[c] for c in ctx.filter.channels if c in CASE_CHANNEL_MEDIA})
    if ctx.filter.channels and not media:
        media = ["none"]  # channels with no conversations: nothing to count
    per = {b: dict.fromkeys(KEYS, 0) for b in buckets}
    for row in ctx.conn.execute(_sums(ctx, granularity, media)):
        cell = per.setdefault(row.b, dict.fromkeys(KEYS, 0))
        n, transferred = int(row.n or 0), int(row.transferred or 0)
        if row.m == "call":
            cell["calls"] += n
            cell["calls_self_served"] += n - transferred
            cell["calls_transferred"] += transferred
            cell["calls_answered"] += int(row.answered or 0)
            cell["calls_abandoned"] += int(row.abandoned or 0)
        elif row.m == "chat":
            cell["chats"] += n
            cell["chats_transferred"] += transferred
        elif row.m == "mail":
            cell["mails"] += n
        else:
            cell["other"] += n
    rows = []
    for b in buckets:
        row = {"label": b, **per[b]}
        row["total"] = row["calls"] + row["chats"] + row["mails"] + row["other"]
        rows.append(row)
    total = {"label": "合计", **{k: sum(r[k] for r in rows) for k in KEYS + ["total"]}}
    columns = [Column("label", "日期", "text"), Column("calls", "来电"), Column("calls_self_served", "自助服务"),
               Column("calls_transferred", "转人工"), Column("calls_answered", "人工接听"),
               Column("calls_abandoned", "放弃"), Column("chats", "在线会话"),
               Column("chats_transferred", "会话转人工"), Column("mails", "邮件"), Column("other", "其他"),
               Column("total", "合计")]
    note = "来电、在线会话与邮件来自会话记录（按渠道）；类型、分类、承办单位条件不适用于话务量。"
    return Table("traffic", f"话务量（按{granularity_label(granularity)}）", columns, rows, total,
                 Chart("stacked", "label", ["calls", "chats", "mails"]), note=note, period=ctx.period.label)
