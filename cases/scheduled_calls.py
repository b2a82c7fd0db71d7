"""Calls scheduled from the desk: a callback (回电: the agent's phone rings first, then the citizen)
or a poll call (民意调查回访: the citizen is connected to the bot, which runs the chosen poll).

Each is a `reminders` row (kind `callback` or `poll_call`), fired by the reminder scheduler
(cases/reminders.py, `ReminderScheduler.handlers`), so it lives in the database and survives a
restart like every other reminder. What to call and how is the `schedule_call` event written with it
(the case's history), each try is a `call_attempt` event with the outcome Asterisk gave
(answered, busy, no_answer, congestion, hangup, failed, or the error when the telephone system could
not be reached), and the row is done when a try is answered, when the tries run out (a
`call_failed` event) or when an agent cancels it (`call_cancel`). Nothing here knows the transport:
the caller passes `place`, which dials and returns the outcome.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from sqlalchemy import select

from .db import Database
from .models import Case, CaseEvent, Reminder

log = logging.getLogger("hotline.scheduled_calls")
KINDS = ("callback", "poll_call")
EVENTS = ("schedule_call", "call_attempt", "call_failed", "call_cancel")


class ScheduleError(ValueError):
    def __init__(self, field: str, code: str):
        super().__init__(f"{field}: {code}")
        self.field, self.code = field, code


@dataclass
class PlannedCall:
    reminder_id: int
    case_id: int
    case_number: str
    kind: str
    number: str
    agent_no: str = ""
    poll_id: int | None = None
    user_id: int | None = None
    max_attempts: int = 3
    attempts: list[dict] = field(default_factory=list)
    done: bool = False
    due_at: dt.datetime | None = None


@dataclass
class Outcome:
    result: str                   # answered | busy | no_answer | congestion | hangup | failed | error
    linkedid: str = ""            # the answered call's id (its recording is named after it)
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.result == "answered"


async def schedule(db: Database, case: Case, *, kind: str, due_at: dt.datetime, number: str, user_id: int | None,
                   actor: str, agent_no: str = "", poll_id: int | None = None, max_attempts: int = 3,
                   note: str = "", now: dt.datetime | None = None) -> Reminder:
    if kind not in KINDS:
        raise ScheduleError("kind", "choice")
    if kind == "callback" and not agent_no:
        raise ScheduleError("agent_no", "required")
    if kind == "poll_call" and not poll_id:
        raise ScheduleError("poll", "required")
    if not number:
        raise ScheduleError("number", "required")
    if now is not None and due_at < now - dt.timedelta(minutes=1):
        raise ScheduleError("due_at", "past")
    async with db.write() as s:
        rem = Reminder(case_id=case.id, kind=kind, due_at=due_at, created_by=user_id, note=note[:500])
        s.add(rem)
        await s.flush()
        s.add(CaseEvent(case_id=case.id, actor=actor, user_id=user_id, channel="desk", action="schedule_call",
                        from_status=case.status, to_status=case.status, public=False,
                        data={"reminder_id": rem.id, "kind": kind, "number": number, "agent_no": agent_no,
                              "poll_id": poll_id, "max_attempts": max_attempts, "due_at": due_at.isoformat()}))
    return rem


async def load(db: Database, reminder_id: int) -> PlannedCall | None:
    async with db.read() as s:
        row = (await s.execute(select(Reminder, Case.number).join(Case, Case.id == Reminder.case_id)
                               .where(Reminder.id == reminder_id, Reminder.kind.in_(KINDS)))).first()
        if row is None:
            return None
        rem, number = row
        events = (await s.execute(select(CaseEvent).where(CaseEvent.case_id == rem.case_id,
                                                          CaseEvent.action.in_(EVENTS))
                                  .order_by(CaseEvent.id))).scalars().all()
    mine = [e for e in events if (e.data or {}).get("reminder_id") == reminder_id]
    plan = next((e.data for e in mine if e.action == "schedule_call"), None)
    if plan is None:
        return None
    return PlannedCall(reminder_id, rem.case_id, number, rem.kind, plan["number"], plan.get("agent_no", ""),
                       plan.get("poll_id"), rem.created_by, int(plan.get("max_attempts", 3)),
                       [e.data for e in mine if e.action == "call_attempt"], rem.done_at is not None, rem.due_at)


async def for_case(db: Database, case_id: int) -> list[PlannedCall]:
    async with db.read() as s:
        ids = (await s.execute(select(Reminder.id).where(Reminder.case_id == case_id, Reminder.kind.in_(KINDS))
                               .order_by(Reminder.due_at.desc()))).scalars().all()
    return [p for p in [await load(db, i) for i in ids] if p is not None]


async def fire(db: Database, reminder_id: int, now: dt.datetime, place: Callable[[PlannedCall], Awaitable[Outcome]],
               *, retry_s: float) -> PlannedCall | None:
    """One try of a due scheduled call: dial it through `place`, record the outcome, and either
    finish the row or set the next try `retry_s` later."""
    plan = await load(db, reminder_id)
    if plan is None or plan.done:
        return plan
    try:
        outcome = await place(plan)
    except Exception as exc:  # Asterisk unreachable, AMI refused: a failed try like any other
        outcome = Outcome("error", detail=str(exc)[:200])
    attempt = len(plan.attempts) + 1
    last = not outcome.answered and attempt >= plan.max_attempts
    record = {"reminder_id": reminder_id, "kind": plan.kind, "attempt": attempt, "result": outcome.result}
    if outcome.linkedid:
        record["linkedid"] = outcome.linkedid
    if outcome.detail:
        record["detail"] = outcome.detail
    async with db.write() as s:
        rem = await s.get(Reminder, reminder_id)
        if rem is None or rem.done_at is not None:  # cancelled while it rang
            return plan
        case = await s.get(Case, plan.case_id)
        s.add(CaseEvent(case_id=plan.case_id, actor="system", channel="phone_agent", action="call_attempt",
                        from_status=case.status, to_status=case.status, public=False, data=record))
        if outcome.answered or last:
            rem.done_at = now
            if last:
                s.add(CaseEvent(case_id=plan.case_id, actor="system", channel="phone_agent", action="call_failed",
                                from_status=case.status, to_status=case.status, public=False,
                                data={"reminder_id": reminder_id, "kind": plan.kind, "attempts": attempt,
                                      "result": outcome.result}))
        else:
            rem.due_at = now + dt.timedelta(seconds=retry_s)
    log.info("scheduled call tried", extra={"fields": {"case": plan.case_number, "kind": plan.kind,
                                                       "attempt": attempt, "result": outcome.result}})
    plan.attempts.append(record)
    plan.done = outcome.answered or last
    return plan


async def cancel(db: Database, reminder_id: int, case: Case, *, user_id: int | None, actor: str) -> bool:
    """Cancel a pending scheduled call of this case; False when there is none."""
    async with db.write() as s:
        rem = await s.get(Reminder, reminder_id)
        if rem is None or rem.case_id != case.id or rem.kind not in KINDS or rem.done_at is not None:
            return False
        rem.done_at = dt.datetime.now(dt.timezone.utc)
        s.add(CaseEvent(case_id=case.id, actor=actor, user_id=user_id, channel="desk", action="call_cancel",
                        from_status=case.status, to_status=case.status, public=False,
                        data={"reminder_id": reminder_id, "kind": rem.kind}))
    return True
