"""Conversations with the bot, their satisfaction answers and their hand-offs to humans."""
from __future__ import annotations

from sqlalchemy import select

from .db import Database
from .models import Case, Conversation, Handoff, ServiceRating, utcnow


class ConversationLog:
    def __init__(self, db: Database):
        self.db = db

    async def _get_or_create(self, s, sender_id: str, channel: str, caller: str = "") -> Conversation:
        conv = await s.get(Conversation, sender_id)
        if conv is None:
            conv = Conversation(id=sender_id, channel=channel, caller=caller or "", state="bot",
                                case_numbers=[])
            s.add(conv)
        elif caller and not conv.caller:
            conv.caller = caller
        conv.updated_at = utcnow()
        return conv

    async def get(self, sender_id: str) -> Conversation | None:
        async with self.db.read() as s:
            return await s.get(Conversation, sender_id)

    async def add_case(self, sender_id: str, channel: str, number: str) -> None:
        async with self.db.write() as s:
            conv = await self._get_or_create(s, sender_id, channel)
            conv.case_numbers = [*conv.case_numbers, number]

    async def record_satisfaction(self, sender_id: str, channel: str, value: int) -> list[str]:
        """Store the end-of-conversation survey answer as the conversation's SERVICE rating (of the
        bot, or of the agent who took its latest hand-off). It is not the outcome rating of the cases
        the conversation filed or looked up: that comes from the 回访 follow-up of their reply
        (Case.satisfaction). Rating again replaces the answer. Returns the conversation's cases."""
        async with self.db.write() as s:
            conv = await self._get_or_create(s, sender_id, channel)
            conv.satisfaction = value
            agent = (await s.execute(select(Handoff.taken_by).where(
                Handoff.conversation_id == sender_id, Handoff.taken_by.isnot(None))
                .order_by(Handoff.taken_at.desc()).limit(1))).scalar()
            numbers = list(conv.case_numbers or [])
            # the case it filed or looked up last, so that case's page can show how the service was rated
            case_id = (await s.execute(select(Case.id).where(Case.number == numbers[-1]))).scalar() \
                if numbers else None
            rating = (await s.execute(select(ServiceRating).where(
                ServiceRating.conversation_id == sender_id))).scalar()
            if rating is None:
                await s.flush()  # the conversation row first (the rating refers to it)
                s.add(ServiceRating(conversation_id=sender_id, channel=channel, agent_id=agent, value=value,
                                    case_id=case_id))
            else:
                rating.value, rating.agent_id, rating.case_id, rating.rated_at = value, agent, case_id, utcnow()
        return numbers

    async def request_handoff(self, sender_id: str, channel: str, reason: str, summary: dict,
                              transcript: list, caller: str = "") -> Handoff:
        async with self.db.write() as s:
            conv = await self._get_or_create(s, sender_id, channel, caller)
            conv.state = "waiting"
            open_request = (await s.execute(select(Handoff).where(
                Handoff.conversation_id == sender_id, Handoff.released_at.is_(None)))).scalar()
            if open_request is not None:  # asking twice does not queue the citizen twice
                open_request.summary, open_request.transcript = summary, transcript
                return open_request
            handoff = Handoff(conversation_id=sender_id, channel=channel, reason=reason, summary=summary,
                              transcript=transcript)
            s.add(handoff)
        return handoff

    async def release(self, sender_id: str) -> None:
        async with self.db.write() as s:
            conv = await s.get(Conversation, sender_id)
            if conv is not None:
                conv.state = "bot"
                conv.updated_at = utcnow()
            for h in (await s.execute(select(Handoff).where(Handoff.conversation_id == sender_id,
                                                            Handoff.released_at.is_(None)))).scalars():
                h.released_at = utcnow()

    async def waiting(self) -> list[Handoff]:
        async with self.db.read() as s:
            return list((await s.execute(select(Handoff).where(Handoff.released_at.is_(None))
                                         .order_by(Handoff.requested_at))).scalars())
