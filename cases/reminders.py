"""Reminders (催办) and supervision (督办): a scheduler that marks cases nearing and past their
deadline, and fires agents' own reminder times.

All of its memory is in the database: every reminder it sends is a `Reminder` row keyed by the
stage and the deadline it was for (`auto:before24:<deadline>`, `auto:overdue:<deadline>`), so a
restarted process neither repeats one nor misses one (it catches up on the first run), and a
deadline that is extended arms the reminders again. On PostgreSQL a transaction-level advisory lock
keeps two gateway processes from sending the same reminder twice.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy import or_, select, text, update

from .db import Database, log_failure
from .models import Case, CaseEvent, Reminder, utcnow
from .workflow import OPEN_STATUSES

log = logging.getLogger("hotline.reminders")
ADVISORY_KEY = 12345_06


@dataclass
class Notice:
    stage: str                  # "before<h>" | "overdue" | "personal"
    case_id: int
    number: str
    title: str
    department_id: int | None
    deadline: dt.datetime | None
    user_id: int | None = None  # personal reminders: whose
    note: str = ""


def parse_thresholds(value: str) -> list[float]:
    """'24,4' → [24.0, 4.0] hours before the deadline; a bad value names the setting."""
    try:
        hours = sorted({float(x) for x in str(value).split(",") if x.strip()}, reverse=True)
    except ValueError:
        raise ValueError(f"setting 'reminder_thresholds_h': {value!r} is not a list of hours") from None
    if any(h <= 0 for h in hours):
        raise ValueError("setting 'reminder_thresholds_h': hours must be positive")
    return hours


def _hours_label(h: float) -> str:
    return f"{h:g}"


class ReminderScheduler:
    """Besides 催办/督办 and personal reminders, other kinds of `reminders` rows can be fired by
    handlers registered in `handlers` (kind → async fn(reminder_id, now)): scheduled calls
    (cases/scheduled_calls.py). A due row is claimed in the round's transaction by moving its due
    time `claim_s` ahead (so neither the next round nor another process fires it again while its
    handler runs), and its handler then runs as a task; the handler sets done_at or the next due
    time. A process that dies mid-call leaves the claim to expire, and the row fires again."""

    def __init__(self, db: Database, *, thresholds_h: list[float], interval_s: float = 60.0,
                 notify: Callable[[Notice], Awaitable[None]] | None = None, clock=utcnow,
                 claim_s: float = 600.0):
        self.db = db
        self.thresholds = thresholds_h
        self.interval_s = interval_s
        self.notify = notify
        self.clock = clock
        self.claim_s = claim_s
        self.handlers: dict[str, Callable[[int, dt.datetime], Awaitable[None]]] = {}
        self._running: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None

    def stage_for(self, deadline: dt.datetime, now: dt.datetime) -> str | None:
        if deadline <= now:
            return "overdue"
        left_h = (deadline - now).total_seconds() / 3600
        # the tightest threshold already reached
        reached = [h for h in self.thresholds if left_h <= h]
        return f"before{_hours_label(min(reached))}" if reached else None

    async def run_once(self, now: dt.datetime | None = None) -> list[Notice]:
        """Send every reminder due at `now` (default: the clock); returns what was sent."""
        now = now or self.clock()
        horizon = now + dt.timedelta(hours=max(self.thresholds, default=0))
        notices: list[Notice] = []
        async with self.db.write() as s:
            if not self.db.sqlite:
                got = (await s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})).scalar()
                if not got:
                    return []  # another process is running this round
            # an overdue case already put under supervision for its deadline (a supervise row made
            # after the deadline passed and after the case last changed, so not for an earlier
            # deadline) is left in the database: otherwise each round would read every overdue
            # case (48,000 of 100,000 in bench/desk.py: seconds of the gateway's time a minute)
            supervised = select(Reminder.id).where(
                Reminder.case_id == Case.id, Reminder.kind == "supervise", Reminder.due_at >= Case.deadline,
                Reminder.created_at >= Case.updated_at).exists()
            rows = (await s.execute(
                select(Case.id, Case.number, Case.title, Case.department_id, Case.deadline, Case.status)
                .where(Case.status.in_([x.value for x in OPEN_STATUSES]), Case.deadline.isnot(None),
                       Case.deadline <= horizon, or_(Case.deadline > now, ~supervised)))).all()
            sent: set[tuple[int, str]] = set()
            if rows:
                ids = [r.id for r in rows]
                for i in range(0, len(ids), 500):
                    sent.update((await s.execute(select(Reminder.case_id, Reminder.note).where(
                        Reminder.case_id.in_(ids[i:i + 500]), Reminder.note.like("auto:%")))).all())
            for r in rows:
                stage = self.stage_for(r.deadline, now)
                if stage is None:
                    continue
                key = f"auto:{stage}:{r.deadline.isoformat()}"
                if (r.id, key) in sent:
                    continue
                overdue = stage == "overdue"
                s.add(Reminder(case_id=r.id, kind="supervise" if overdue else "remind", due_at=now,
                               done_at=now, note=key))
                s.add(CaseEvent(case_id=r.id, at=now, actor="system", channel="system",
                                action="supervise" if overdue else "remind", from_status=r.status,
                                to_status=r.status, public=False,
                                data={"auto": stage, "deadline": r.deadline.isoformat()}))
                notices.append(Notice(stage, r.id, r.number, r.title, r.department_id, r.deadline))
            personal = (await s.execute(
                select(Reminder, Case.number, Case.title, Case.department_id, Case.deadline)
                .join(Case, Case.id == Reminder.case_id)
                .where(Reminder.kind == "personal", Reminder.done_at.is_(None), Reminder.due_at <= now))).all()
            for rem, number, title, dept, deadline in personal:
                rem.done_at = now
                notices.append(Notice("personal", rem.case_id, number, title, dept, deadline,
                                      rem.created_by, rem.note))
            claimed = []
            if self.handlers:
                claimed = (await s.execute(select(Reminder.id, Reminder.kind).where(
                    Reminder.kind.in_(list(self.handlers)), Reminder.done_at.is_(None),
                    Reminder.due_at <= now).order_by(Reminder.due_at))).all()
                if claimed:
                    await s.execute(update(Reminder).where(Reminder.id.in_([c.id for c in claimed]))
                                    .values(due_at=now + dt.timedelta(seconds=self.claim_s)))
        for c in claimed:  # after the commit: the claim is stored before anything is done
            task = asyncio.create_task(self._fire(c.kind, c.id, now))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        for notice in notices:  # after the commit: a notice is only sent for a stored reminder
            if self.notify is not None:
                try:
                    await self.notify(notice)
                except Exception:  # a mail server down must not stop the reminders
                    log.exception("reminder notification failed", extra={"fields": {"case": notice.number}})
        return notices

    async def _fire(self, kind: str, reminder_id: int, now: dt.datetime) -> None:
        try:
            await self.handlers[kind](reminder_id, now)
        except asyncio.CancelledError:
            raise
        except Exception:  # one failing handler must not stop the others; the claim expires
            log.exception("scheduled reminder failed", extra={"fields": {"reminder": reminder_id, "kind": kind}})

    async def settle(self) -> None:
        """Wait for the handlers started by the rounds so far (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def add_personal(self, case_id: int, user_id: int, due_at: dt.datetime, note: str) -> Reminder:
        async with self.db.write() as s:
            rem = Reminder(case_id=case_id, kind="personal", due_at=due_at, created_by=user_id, note=note)
            s.add(rem)
            s.add(CaseEvent(case_id=case_id, actor="system", user_id=user_id, channel="desk", action="set_reminder",
                            public=False, data={"due_at": due_at.isoformat()}))
        return rem

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup: try again next round
                log_failure(log, "reminder round failed", exc)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        for task in list(self._running):  # a call in flight: its claim expires and it fires again
            task.cancel()
        await asyncio.gather(*list(self._running), return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
