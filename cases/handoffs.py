"""Live hand-offs worked from the desk: taking a waiting conversation, moving it between agents,
and keeping what was said while a human had it.

Taking is one conditional UPDATE (`... WHERE taken_by IS NULL`): of two agents who click at the
same moment, the database lets exactly one row change, so two agents never hold the same chat.
Releasing (hand back or end) is ConversationLog.release, called by Engine.resume.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from .db import Database
from .intake import clean_text
from .models import Conversation, Handoff, User, utcnow

MAX_LINE = 2000


class AlreadyTaken(RuntimeError):
    """Another agent holds (or just took) this conversation, or it is no longer waiting."""


@dataclass
class LiveItem:
    handoff: Handoff
    conversation: Conversation | None
    agent: User | None


class HandoffDesk:
    def __init__(self, db: Database):
        self.db = db

    async def open_items(self) -> list[LiveItem]:
        """Every conversation waiting for or held by a human, oldest request first."""
        async with self.db.read() as s:
            rows = (await s.execute(
                select(Handoff, Conversation, User)
                .join(Conversation, Conversation.id == Handoff.conversation_id, isouter=True)
                .join(User, User.id == Handoff.taken_by, isouter=True)
                .where(Handoff.released_at.is_(None)).order_by(Handoff.requested_at))).all()
        return [LiveItem(h, c, u) for h, c, u in rows]

    async def open_for(self, conversation_id: str) -> Handoff | None:
        async with self.db.read() as s:
            return (await s.execute(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                          Handoff.released_at.is_(None)))).scalar()

    async def take(self, handoff_id: int, user: User, *, take_over: bool = False) -> Handoff:
        """Give the conversation to `user`. Without take_over only a waiting one can be taken;
        with it (supervisors) one held by someone else is taken from them."""
        now = utcnow()
        condition = Handoff.taken_by.is_(None) if not take_over else Handoff.taken_by.isnot(None)
        async with self.db.write() as s:
            changed = (await s.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.released_at.is_(None), condition)
                .values(taken_by=user.id, taken_at=now).execution_options(synchronize_session=False))).rowcount
            if changed != 1:
                raise AlreadyTaken(handoff_id)
            handoff = await s.get(Handoff, handoff_id)
            conv = await s.get(Conversation, handoff.conversation_id)
            if conv is not None:
                conv.state, conv.updated_at = "agent", now
        return handoff

    async def transfer(self, handoff_id: int, holder: User, to_user: User) -> Handoff:
        """Hand a held conversation to another agent or a supervisor (only its holder may)."""
        async with self.db.write() as s:
            changed = (await s.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.released_at.is_(None),
                                      Handoff.taken_by == holder.id)
                .values(taken_by=to_user.id, taken_at=utcnow())
                .execution_options(synchronize_session=False))).rowcount
            if changed != 1:
                raise AlreadyTaken(handoff_id)
            return await s.get(Handoff, handoff_id)

    async def holder(self, conversation_id: str) -> int | None:
        handoff = await self.open_for(conversation_id)
        return handoff.taken_by if handoff else None

    async def append(self, conversation_id: str, line: dict) -> bool:
        """Keep one line of the live chat with the open hand-off (False: none is open)."""
        line = {**line, "text": clean_text(str(line.get("text", "")), multiline=True)[:MAX_LINE],
                "at": line.get("at") or utcnow().isoformat()}
        async with self.db.write() as s:
            handoff = (await s.execute(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                             Handoff.released_at.is_(None))
                                       .with_for_update())).scalar()
            if handoff is None:
                return False
            handoff.transcript = [*(handoff.transcript or []), line]  # a new list: JSON columns track assignment
        return True

    async def append_many(self, lines: dict[str, list[dict]]) -> set[str]:
        """Keep the lines of several live chats in one transaction; returns the conversations that
        had an open hand-off (the others' lines have nowhere to go)."""
        now = utcnow().isoformat()
        async with self.db.write() as s:
            handoffs = (await s.execute(select(Handoff).where(Handoff.conversation_id.in_(list(lines)),
                                                              Handoff.released_at.is_(None))
                                        .with_for_update())).scalars().all()
            for handoff in handoffs:
                new = [{**line, "text": clean_text(str(line.get("text", "")), multiline=True)[:MAX_LINE],
                        "at": line.get("at", now)} for line in lines[handoff.conversation_id]]
                handoff.transcript = [*(handoff.transcript or []), *new]
        return {h.conversation_id for h in handoffs}

    async def mark_ended(self, conversation_id: str) -> None:
        async with self.db.write() as s:
            conv = await s.get(Conversation, conversation_id)
            if conv is not None:
                conv.state, conv.updated_at = "ended", utcnow()


DEFAULT_WAIT_S = 120  # per citizen ahead, until the desk has taken enough chats to measure
RECENT_TAKEN = 50


async def queue_position(db: Database, conversation_id: str) -> dict | None:
    """Where a conversation waiting for a human stands: {"position": 1 = next, "wait_s": estimate}.
    None when no human is asked for or one already has it.

    The estimate is the position times the median wait of the last chats the desk took (a
    contact centre's "expected wait time"); without such history, DEFAULT_WAIT_S each."""
    async with db.read() as s:
        mine = (await s.execute(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                      Handoff.released_at.is_(None)))).scalar()
        if mine is None or mine.taken_by is not None:
            return None
        position = (await s.execute(select(func.count()).select_from(Handoff).where(
            Handoff.released_at.is_(None), Handoff.taken_by.is_(None),
            Handoff.requested_at <= mine.requested_at))).scalar() or 1
        recent = (await s.execute(select(Handoff.requested_at, Handoff.taken_at).where(
            Handoff.taken_at.isnot(None)).order_by(Handoff.taken_at.desc()).limit(RECENT_TAKEN))).all()
    waits = sorted((taken - asked).total_seconds() for asked, taken in recent if taken and asked)
    each = max(30.0, waits[len(waits) // 2]) if len(waits) >= 3 else DEFAULT_WAIT_S
    return {"position": int(position), "wait_s": int(each * position)}


async def live_lines(db: Database, conversation_id: str) -> list[dict]:
    """What was said while humans had this conversation (the lines kept with its hand-offs as
    they were said; the bot's part before each hand-off is Rasa's, not repeated here)."""
    async with db.read() as s:
        transcripts = (await s.execute(select(Handoff.transcript).where(Handoff.conversation_id == conversation_id)
                                       .order_by(Handoff.requested_at))).scalars().all()
    return [line for t in transcripts for line in (t or []) if line.get("at")]
