"""Conversations (calls, chats, mails) for the reports: their medium, what became of them, and
their daily summary (report_conversation_daily).

A conversation counts as transferred when it asked for a human at all, answered when an agent
took it, abandoned when its request ended before an agent took it. Per local day of its start and
medium, the summary keeps those counts and its satisfaction answers; per local day of the request,
the hand-offs and those taken (接通率). Conversations have no event log: the summary follows their
`updated_at` and the hand-offs' request, take and release times, from a watermark time that stays
SETTLE behind the clock, and summarizes the days they touch again.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, insert, select, union, update
from sqlalchemy.engine import Connection

from ..models import Conversation, Handoff, ReportConversationDaily, ReportWatermark
from .base import Context
from .daily import chunks, local_date, runs, utc_ranges, within
from .facts import SETTLE, basis_of, lock_watermark
from .figures import one
from .periods import Period
from .sqltime import local_day

# Conversations by medium: which conversation channels are calls, chats and mails. Channels
# added later only need their code listed here.
MEDIA = {
    "call": ("voice", "phone", "phone_self", "phone_agent", "asterisk", "sip"),
    "chat": ("webchat", "rest", "chat"),
    "mail": ("email", "mail", "mayor_mailbox"),
}
MEDIA_LABELS = {"call": "来电", "chat": "在线会话", "mail": "邮件", "other": "其他"}
CASE_CHANNEL_MEDIA = {"phone_self": "call", "phone_agent": "call", "webchat": "chat", "email": "mail"}
NAME = "conversations"


def medium(channel_column):
    return case(*[(channel_column.in_(codes), m) for m, codes in MEDIA.items()], else_="other")


def media_channels(media: list[str]) -> list[str]:
    return [code for m in media for code in MEDIA.get(m, ())]


def outcomes(conds: list, day_expr, taken_by: int | None = None):
    """One row per conversation matching `conds`: its bucket or day `d`, medium `m`, satisfaction
    and 0/1 flags asked, taken, abandoned, from all its hand-offs (only those `taken_by` took,
    when given)."""
    h_conds = [Handoff.conversation_id.in_(select(Conversation.id).where(*conds))]
    if taken_by is not None:
        h_conds.append(Handoff.taken_by == taken_by)
    h = (select(Handoff.conversation_id.label("cid"), func.count().label("asked"),
                func.count(Handoff.taken_at).label("taken"),
                one(and_(Handoff.released_at.isnot(None), Handoff.taken_at.is_(None))).label("dropped"))
         .where(*h_conds).group_by(Handoff.conversation_id).subquery())
    q = (select(day_expr.label("d"), medium(Conversation.channel).label("m"), Conversation.satisfaction,
                case((h.c.asked > 0, 1), else_=0).label("asked"),
                case((h.c.taken > 0, 1), else_=0).label("taken"),
                case((and_(h.c.dropped > 0, h.c.taken == 0), 1), else_=0).label("abandoned"))
         .select_from(Conversation).outerjoin(h, h.c.cid == Conversation.id).where(*conds))
    if taken_by is not None:  # the conversations this agent took over
        q = q.where(h.c.taken > 0)
    return q.subquery()


def outcome_sums(sub) -> list:
    return [func.count().label("conversations"), func.count(sub.c.satisfaction).label("rated"),
            one(sub.c.satisfaction == 1).label("satisfied"), func.sum(sub.c.asked).label("asked"),
            func.sum(sub.c.taken).label("taken"), func.sum(sub.c.abandoned).label("abandoned")]


def handoff_sums(start: dt.datetime, end: dt.datetime, day_expr=None, where=()) -> select:
    """Hand-offs requested in [start, end) and those taken (by `day_expr` and medium, when given)."""
    conds = [Handoff.requested_at >= start, Handoff.requested_at < end, *where]
    if day_expr is None:
        return select(func.count().label("handoffs"), func.count(Handoff.taken_at).label("handoffs_taken")) \
            .where(*conds)
    # grouped over a subquery's columns: with server-side parameters (asyncpg) the medium's CASE
    # repeated in GROUP BY would be another expression to PostgreSQL
    sub = select(day_expr.label("d"), medium(Handoff.channel).label("m"), Handoff.taken_at).where(*conds).subquery()
    return (select(sub.c.d, sub.c.m, func.count().label("handoffs"), func.count(sub.c.taken_at).label("handoffs_taken"))
            .group_by(sub.c.d, sub.c.m))


# ---- the daily summary --------------------------------------------------------------------------
def refresh_conversation_daily(conn: Connection, zone: ZoneInfo, now: dt.datetime | None = None,
                               rebuild: bool = True) -> int:
    """Bring report_conversation_daily up to date in the caller's transaction; returns the number of
    local days summarized again (a whole build only with `rebuild`, as refresh_daily)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    row = lock_watermark(conn, NAME)
    since = row.last_at if row.basis == zone.key else None
    if since is None and not rebuild:
        return 0
    if since is None:  # the first build, or another zone: everything
        conn.execute(delete(ReportConversationDaily))
        first, last = conn.execute(select(func.min(Conversation.started_at), func.max(Conversation.started_at))).one()
        h_last = conn.execute(select(func.max(Handoff.requested_at))).scalar()
        days = [] if first is None else [(local_date(first, zone),
                                          local_date(max(last, h_last or last), zone) + dt.timedelta(days=1))]
    else:
        touched = set(conn.execute(select(Conversation.started_at).where(Conversation.updated_at >= since)).scalars())
        # one indexed range per time column (SQLite would scan the hand-offs for an OR of them)
        changed = union(*[select(Handoff.conversation_id.label("cid"), Handoff.requested_at.label("at"))
                          .where(column >= since)
                          for column in (Handoff.requested_at, Handoff.taken_at, Handoff.released_at)]).subquery()
        touched.update(conn.execute(select(changed.c.at)).scalars())
        touched.update(conn.execute(select(Conversation.started_at)
                                    .where(Conversation.id.in_(select(changed.c.cid)))).scalars())
        days = runs({local_date(at, zone) for at in touched})
    for chunk in chunks(days):
        _summarize(conn, chunk, zone)
    conn.execute(update(ReportWatermark).where(ReportWatermark.name == NAME)
                 .values(last_at=now - SETTLE, basis=zone.key))
    return sum((end - start).days for start, end in days)


def _summarize(conn: Connection, ranges: list[tuple[dt.date, dt.date]], zone: ZoneInfo) -> None:
    span = Period(ranges[0][0], ranges[-1][1])
    start, end = span.utc_bounds(zone)
    utc = utc_ranges(ranges, zone)
    dialect = conn.dialect.name
    cells: dict[tuple, dict] = {}
    started = within(Conversation.started_at, utc)
    sub = outcomes([started], local_day(Conversation.started_at, dialect, zone, start, end))
    for row in conn.execute(select(sub.c.d, sub.c.m, *outcome_sums(sub)).group_by(sub.c.d, sub.c.m)):
        cells[(str(row.d), row.m)] = {k: int(getattr(row, k) or 0) for k in
                                      ("conversations", "rated", "satisfied", "asked", "taken", "abandoned")}
    requested = within(Handoff.requested_at, utc)
    h = handoff_sums(start, end, local_day(Handoff.requested_at, dialect, zone, start, end), [requested])
    for row in conn.execute(h):
        cell = cells.setdefault((str(row.d), row.m), {})
        cell.update(handoffs=row.handoffs, handoffs_taken=row.handoffs_taken)
    conn.execute(delete(ReportConversationDaily).where(within(ReportConversationDaily.day, ranges)))
    if cells:
        conn.execute(insert(ReportConversationDaily), [
            {"day": dt.date.fromisoformat(day[:10]), "medium": m, **dict.fromkeys(SUMMED, 0), **cell}
            for (day, m), cell in cells.items()])


SUMMED = ("conversations", "rated", "satisfied", "asked", "taken", "abandoned", "handoffs", "handoffs_taken")


def ready(ctx: Context) -> bool:
    """Whether the conversation summary can answer: refreshed under the context's zone."""
    if not ctx.summary:
        return False
    return basis_of(ctx.conn, NAME) == ctx.zone.key


def period_conditions(ctx: Context) -> list:
    return [ReportConversationDaily.day >= ctx.period.start, ReportConversationDaily.day < ctx.period.end]
