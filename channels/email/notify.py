"""Mail about what happens to a case later: the citizen who wrote by mail hears when it is answered
(办结答复, 当场答复) or archived; the department hears of a case dispatched to it and of reminders
(催办) an agent gives; the desk's scheduler mails its own automatic reminders.

It listens to the case events themselves, not to a call from the desk: every change made through
`CaseStore.apply` (by the desk, the REST API or another gateway process) writes an event row, and
this notifier reads the rows after its cursor (table mail_cursors). Queuing the mails and moving
the cursor are one transaction, so each event is mailed once, even across restarts. To get a
notice out at once, call `MailNotifier.poke()` (or `MailChannel.poke()`) after a change;
otherwise it is seen within `mail_notify_poll_s` seconds.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from cases.db import log_failure
from cases.mailbox import MailLedger, Outgoing
from cases.models import Department, MailMessage, MailOutbox
from cases.workflow import Channel

from .compose import Composer, Thread

log = logging.getLogger("hotline.email")

CURSOR = "notifier"
CITIZEN_ACTIONS = ("reply", "answer", "close")
DEPARTMENT_ACTIONS = ("dispatch", "remind")
CITIZEN_PURPOSES = ("ack", "status", "replied", "closed")  # the mails of the citizen's thread


class MailNotifier:
    def __init__(self, ledger: MailLedger, composer: Composer, poll_s: float, on_queued=None):
        self.ledger = ledger
        self.composer = composer
        self.poll_s = poll_s
        self.on_queued = on_queued or (lambda: None)
        self.wake = asyncio.Event()

    def poke(self) -> None:
        self.wake.set()

    async def thread_of(self, case_id: int) -> Thread:
        """The citizen's first mail and our mails since: what a notice answers."""
        async with self.ledger.db.read() as s:
            first = (await s.execute(select(MailMessage.message_id, MailMessage.subject).where(
                MailMessage.case_id == case_id, MailMessage.state == "case").order_by(MailMessage.id).limit(1))).first()
            ours = list((await s.execute(select(MailOutbox.message_id).where(
                MailOutbox.case_id == case_id, MailOutbox.purpose.in_(CITIZEN_PURPOSES))
                .order_by(MailOutbox.id))).scalars())
        if first is None:
            return Thread("", tuple(ours), "")
        refs = (first.message_id,) + tuple(ours[:-1]) if first.message_id else tuple(ours[:-1])
        return Thread(ours[-1] if ours else first.message_id, refs, first.subject)

    async def department_email(self, department_id: int | None) -> str:
        if department_id is None:
            return ""
        async with self.ledger.db.read() as s:
            dept = await s.get(Department, department_id)
        return dept.email if dept is not None and dept.active else ""

    async def step(self) -> int:
        """Queue the mails for the events since the cursor; returns how many events it read."""
        cursor, rows = await self.ledger.events_after(CURSOR, CITIZEN_ACTIONS + DEPARTMENT_ACTIONS)
        if not rows:
            return 0
        outgoing: list[Outgoing] = []
        for event, case in rows:
            if event.action in CITIZEN_ACTIONS:
                if case.channel == Channel.EMAIL.value and case.contact_email and case.wants_reply:
                    outgoing.append(self.composer.citizen_notice(case, event.action, await self.thread_of(case.id)))
            elif event.action == "remind" and (event.data or {}).get("auto"):
                continue  # the desk's reminder scheduler mails its own reminders (channels/desk/notify.py)
            else:
                to = await self.department_email(case.department_id)
                if to:
                    outgoing.append(self.composer.department_notice(case, event.action, to, event.comment or ""))
        if await self.ledger.advance(CURSOR, cursor, rows[-1][0].id, outgoing):
            if outgoing:
                self.on_queued()
            return len(rows)
        return 0  # another process took these events

    async def run(self) -> None:
        await self.ledger.events_after(CURSOR, ())  # start the cursor now, not at the first event
        while True:
            try:
                while await self.step():
                    pass
            except Exception as exc:
                log_failure(log, "mail notifier step failed", exc)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self.poll_s)
            except asyncio.TimeoutError:
                pass
