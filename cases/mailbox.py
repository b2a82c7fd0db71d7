"""Mail state in the case database: which incoming mails were taken (and what became of them), the
outbox of mails to send, and the notifier's place in the case events.

The email channel (channels/email/) uses this; it holds the rules that keep mail exactly-once:
- a mail is claimed by its key (a hash of its Message-ID) before any work; a second delivery of
  the same Message-ID finds the claim and is a duplicate;
- the outcome (case, event, held, ignored …) and the mails it sends are written in one transaction,
  so "processed" is recorded only once the case is committed; an answer to a mail is queued once
  per (mail, kind) (the outbox's dedupe_key);
- a mail out is marked as begun (committed) before its SMTP transaction and as sent after it: a
  restart never sends it a second time (at most once; one cut off by a crash is listed as such);
- a claim left behind by a crash is taken over after a lease, and the case it may already have made
  is found again by its conversation id (`email:<key>`), so a restart neither loses nor doubles it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .db import Database
from .models import Attachment, Case, CaseEvent, MailCursor, MailMessage, MailOutbox, utcnow

FINAL_STATES = ("case", "event", "status", "held", "ignored", "released", "discarded")
RELEASABLE = ("held", "ignored")


def message_key(message_id: str, raw: bytes) -> str:
    """The identity of a mail: its Message-ID (angle brackets and case of the domain do not matter),
    or the hash of its bytes when it has none."""
    mid = normalize_message_id(message_id)
    return hashlib.sha256(mid.encode("utf-8") if mid else raw).hexdigest()


def normalize_message_id(value: str) -> str:
    value = (value or "").strip().strip("<>").strip()
    if "@" in value:
        local, _, domain = value.rpartition("@")
        value = f"{local}@{domain.lower()}"
    return value


def mail_conversation_id(key: str) -> str:
    """What a case made from a mail carries as its conversation id (found again after a crash)."""
    return f"email:{key}"


@dataclass
class Claim:
    status: str                 # new | retake (an expired claim taken over) | duplicate | busy
    row: MailMessage


@dataclass
class Outgoing:
    """A mail to queue in the same transaction as the outcome that causes it."""
    purpose: str
    recipient: str
    message_id: str
    body: str
    case_id: int | None = None
    dedupe_key: str | None = None   # "<mail key>:<purpose>": queued once per incoming mail and kind


@dataclass
class KeptFile:
    """A file already in the content-addressed store, to list with a case."""
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class CitizenEvent:
    """A case event written with the outcome (a citizen's reply by mail)."""
    case_id: int
    action: str
    comment: str
    data: dict = field(default_factory=dict)
    actor: str = "citizen"
    public: bool = False


class MailLedger:
    def __init__(self, db: Database, claim_lease_s: float = 120.0):
        self.db = db
        self.claim_lease_s = claim_lease_s

    # ---- incoming -----------------------------------------------------------------------------
    async def claim(self, key: str, *, message_id: str, source: str, sender: str, subject: str,
                    size: int) -> Claim:
        """Take a mail for processing. `duplicate`: it was done before; `busy`: another reader holds
        it (its lease still runs); `new`: go ahead (possibly taking over an expired claim)."""
        now = utcnow()
        row = MailMessage(message_key=key, message_id=message_id[:2000], source=source, sender=sender[:320],
                          subject=subject[:300], size=size, state="processing", claimed_at=now)
        try:
            async with self.db.write() as s:
                s.add(row)
            return Claim("new", row)
        except IntegrityError:
            pass
        async with self.db.write() as s:
            existing = (await s.execute(select(MailMessage).where(MailMessage.message_key == key)
                                        .with_for_update())).scalar_one()
            if existing.state != "processing":
                return Claim("duplicate", existing)
            if now - existing.claimed_at < dt.timedelta(seconds=self.claim_lease_s):
                return Claim("busy", existing)
            existing.claimed_at = now  # the holder died: take the mail over
            return Claim("retake", existing)

    async def finish(self, key: str, state: str, *, reason: str = "", case_id: int | None = None,
                     raw_sha256: str | None = None, outgoing: list[Outgoing] = (),
                     event: CitizenEvent | None = None, files: list[KeptFile] = ()) -> None:
        """Record what became of a mail, the mails it causes, its case event and the files it
        brings to the case (with one "attach" event naming them), all in one transaction.
        Written as few statements as it takes: on SQLite every write waits for this one."""
        if state not in FINAL_STATES:
            raise ValueError(f"unknown mail state {state!r}")
        now = utcnow()
        values = {"state": state, "reason": reason, "done_at": now}
        if case_id is not None:
            values["case_id"] = case_id
        if raw_sha256:
            values["raw_sha256"] = raw_sha256
        async with self.db.write() as s:
            await s.execute(update(MailMessage).where(MailMessage.message_key == key).values(**values))
            if outgoing:
                await s.execute(self._queue_once(), [
                    {"case_id": out.case_id, "purpose": out.purpose, "recipient": out.recipient,
                     "message_id": out.message_id, "body": out.body, "created_at": now, "next_try_at": now,
                     "attempts": 0, "error": "", "dedupe_key": out.dedupe_key} for out in outgoing])
            if event is None and not files:
                return
            target = event.case_id if event is not None else case_id
            status = (await s.execute(select(Case.status).where(Case.id == target))).scalar_one()
            events = []
            if event is not None:
                events.append({"actor": event.actor, "action": event.action, "comment": event.comment,
                               "public": event.public, "data": event.data})
            if files:
                await s.execute(insert(Attachment), [
                    {"case_id": target, "kind": f.kind, "filename": f.filename, "content_type": f.content_type,
                     "size": f.size, "sha256": f.sha256, "created_at": now} for f in files])
                events.append({"actor": "citizen", "action": "attach", "comment": "", "public": False,
                               "data": {"files": [{"filename": f.filename, "sha256": f.sha256, "kind": f.kind}
                                                  for f in files]}})
            await s.execute(insert(CaseEvent), [
                dict(e, case_id=target, at=now, channel="email", from_status=status, to_status=status) for e in events])
            await s.execute(update(Case).where(Case.id == target).values(updated_at=now))

    def _queue_once(self):
        """INSERT into the outbox that skips a row whose dedupe_key is there already."""
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(MailOutbox).on_conflict_do_nothing(index_elements=["dedupe_key"])

    async def case_for_mail(self, key: str) -> Case | None:
        """The case an earlier, interrupted attempt made from this mail, if it got that far."""
        async with self.db.read() as s:
            return (await s.execute(select(Case).where(Case.conversation_id == mail_conversation_id(key))
                                    .order_by(Case.id).limit(1))).scalar()

    async def case_for_thread(self, message_ids: list[str]) -> int | None:
        """The case a mail answers, by the Message-IDs it refers to (ours or the citizen's)."""
        ids = [normalize_message_id(m) for m in message_ids if m]
        if not ids:
            return None
        keys = [message_key(m, b"") for m in ids]
        async with self.db.read() as s:
            ours = (await s.execute(select(MailOutbox.case_id).where(
                MailOutbox.message_id.in_([f"<{m}>" for m in ids]), MailOutbox.case_id.is_not(None))
                .order_by(MailOutbox.id.desc()).limit(1))).scalar()
            if ours:
                return ours
            return (await s.execute(select(MailMessage.case_id).where(
                MailMessage.message_key.in_(keys), MailMessage.case_id.is_not(None))
                .order_by(MailMessage.id.desc()).limit(1))).scalar()

    async def replace_password(self, case_id: int, password_hash: str) -> None:
        """A case whose acknowledgement was interrupted gets a fresh lookup password (only its hash
        was kept), so the acknowledgement sent after the restart can still tell one."""
        async with self.db.write() as s:
            case = await s.get(Case, case_id)
            case.password_hash = password_hash
            s.add(CaseEvent(case_id=case_id, actor="system", channel="email", action="new_password",
                            from_status=case.status, to_status=case.status, public=False,
                            comment="acknowledgement interrupted: new lookup password sent by mail"))

    async def get(self, mail_id: int) -> MailMessage | None:
        async with self.db.read() as s:
            return await s.get(MailMessage, mail_id)

    async def by_key(self, key: str) -> MailMessage | None:
        async with self.db.read() as s:
            return (await s.execute(select(MailMessage).where(MailMessage.message_key == key))).scalar()

    async def held(self, limit: int = 100, states: tuple[str, ...] = RELEASABLE) -> list[MailMessage]:
        """Mails an agent may look at and release: held (spam verdicts, replies from strangers,
        unusable mail) and ignored (lists, bounces, auto-replies, no-reply, our own): the held
        oldest first (a queue), then the ignored newest first (they pile up; the recent ones matter)."""
        rows: list[MailMessage] = []
        async with self.db.read() as s:
            for state, order in (("held", MailMessage.id), ("ignored", MailMessage.id.desc())):
                if state in states and len(rows) < limit:
                    rows += (await s.execute(select(MailMessage).where(MailMessage.state == state)
                                             .order_by(order).limit(limit - len(rows)))).scalars()
        return rows

    async def mark_released(self, mail_id: int, actor: str) -> MailMessage:
        """Take a held mail out of the hold (the caller processes it again); once only."""
        async with self.db.write() as s:
            row = (await s.execute(select(MailMessage).where(MailMessage.id == mail_id).with_for_update())).scalar()
            if row is None or row.state not in RELEASABLE:
                raise LookupError(f"mail {mail_id} is not held")
            row.state, row.released_by, row.released_at = "released", actor[:64], utcnow()
            return row

    async def discard(self, mail_id: int, actor: str, event: CitizenEvent | None = None) -> MailMessage:
        """An agent throws a held mail away: the row keeps who and when (state `discarded`), and a
        mail about a case leaves an event on it; once only."""
        async with self.db.write() as s:
            row = (await s.execute(select(MailMessage).where(MailMessage.id == mail_id).with_for_update())).scalar()
            if row is None or row.state not in RELEASABLE:
                raise LookupError(f"mail {mail_id} is not held")
            now = utcnow()
            row.state, row.released_by, row.released_at = "discarded", actor[:64], now
            if event is not None:
                status = (await s.execute(select(Case.status).where(Case.id == event.case_id))).scalar_one()
                s.add(CaseEvent(case_id=event.case_id, at=now, actor=event.actor, channel="email",
                                action=event.action, from_status=status, to_status=status, public=event.public,
                                comment=event.comment, data=event.data))
            return row

    # ---- outgoing ----------------------------------------------------------------------------
    async def due(self, limit: int = 50) -> list[MailOutbox]:
        """Mails to send now: not sent, not begun (a begun one was interrupted: never again)."""
        async with self.db.read() as s:
            return list((await s.execute(select(MailOutbox).where(
                MailOutbox.sent_at.is_(None), MailOutbox.sending_at.is_(None), MailOutbox.next_try_at <= utcnow())
                .order_by(MailOutbox.id).limit(limit))).scalars())

    async def next_due_at(self) -> dt.datetime | None:
        async with self.db.read() as s:
            return (await s.execute(select(MailOutbox.next_try_at).where(
                MailOutbox.sent_at.is_(None), MailOutbox.sending_at.is_(None))
                .order_by(MailOutbox.next_try_at).limit(1))).scalar()

    async def begin_send(self, outbox_id: int, sent: list[int] = ()) -> bool:
        """Mark a mail as being sent, before the SMTP transaction (committed): False when another
        process began it first or it is no longer due. A crash after this never sends it again.
        `sent`: mails just sent, marked in the same transaction (one commit per mail out)."""
        async with self.db.write() as s:
            if sent:
                await s.execute(update(MailOutbox).where(MailOutbox.id.in_(list(sent)))
                                .values(sent_at=utcnow(), error=""))
            begun = await s.execute(update(MailOutbox).where(
                MailOutbox.id == outbox_id, MailOutbox.sent_at.is_(None), MailOutbox.sending_at.is_(None))
                .values(sending_at=utcnow()))
            return begun.rowcount == 1

    async def interrupted(self) -> list[MailOutbox]:
        """Mails whose sending began and never ended (the process died mid-send): perhaps
        delivered, so not repeated; listed for agents and counted on /metrics."""
        async with self.db.read() as s:
            return list((await s.execute(select(MailOutbox).where(
                MailOutbox.sent_at.is_(None), MailOutbox.sending_at.is_not(None)).order_by(MailOutbox.id))).scalars())

    async def mark_sent(self, outbox_ids: list[int]) -> None:
        if not outbox_ids:
            return
        async with self.db.write() as s:
            await s.execute(update(MailOutbox).where(MailOutbox.id.in_(outbox_ids)).values(sent_at=utcnow(), error=""))

    async def mark_failed(self, outbox_id: int, error: str, retry_in_s: float) -> None:
        async with self.db.write() as s:
            # refused or cut off before the server took it: due again (sending_at cleared)
            await s.execute(update(MailOutbox).where(MailOutbox.id == outbox_id).values(
                attempts=MailOutbox.attempts + 1, error=error[:2000], sending_at=None,
                next_try_at=utcnow() + dt.timedelta(seconds=retry_in_s)))

    async def sent_to(self, case_id: int) -> list[MailOutbox]:
        async with self.db.read() as s:
            return list((await s.execute(select(MailOutbox).where(MailOutbox.case_id == case_id)
                                         .order_by(MailOutbox.id))).scalars())

    # ---- the notifier's cursor over case events --------------------------------------------------
    async def events_after(self, name: str, actions: tuple[str, ...], limit: int = 200
                           ) -> tuple[int, list[tuple[CaseEvent, Case]]]:
        """(cursor, the next events of interest with their cases). A new cursor starts at the
        newest event: mails are for what happens from now on, not for history."""
        async with self.db.write() as s:
            cursor = await s.get(MailCursor, name)
            if cursor is None:
                newest = (await s.execute(select(CaseEvent.id).order_by(CaseEvent.id.desc()).limit(1))).scalar()
                s.add(MailCursor(name=name, last_event_id=newest or 0))
                return newest or 0, []
            last = cursor.last_event_id
        async with self.db.read() as s:
            rows = (await s.execute(select(CaseEvent, Case).join(Case, Case.id == CaseEvent.case_id)
                                    .where(CaseEvent.id > last, CaseEvent.action.in_(actions))
                                    .order_by(CaseEvent.id).limit(limit))).all()
        return last, [(e, c) for e, c in rows]

    async def newest_event_id(self) -> int:
        async with self.db.read() as s:
            return (await s.execute(select(CaseEvent.id).order_by(CaseEvent.id.desc()).limit(1))).scalar() or 0

    async def advance(self, name: str, expected: int, to: int, outgoing: list[Outgoing]) -> bool:
        """Move the cursor from `expected` to `to` and queue the mails, together; False when another
        process moved it first (then nothing is queued)."""
        async with self.db.write() as s:
            moved = await s.execute(update(MailCursor).where(MailCursor.name == name,
                                                             MailCursor.last_event_id == expected)
                                    .values(last_event_id=to))
            if moved.rowcount != 1:
                return False
            now = utcnow()
            for out in outgoing:
                s.add(MailOutbox(case_id=out.case_id, purpose=out.purpose, recipient=out.recipient,
                                 message_id=out.message_id, body=out.body, created_at=now, next_try_at=now))
        return True

    async def queue(self, out: Outgoing) -> None:
        """Queue one mail that answers no incoming mail (a chat transcript the citizen asked for)."""
        now = utcnow()
        async with self.db.write() as s:
            s.add(MailOutbox(case_id=out.case_id, purpose=out.purpose, recipient=out.recipient,
                             message_id=out.message_id, body=out.body, created_at=now, next_try_at=now))

    async def states(self) -> dict[str, int]:
        """How many mails are in each state (for tests, metrics and the CLI)."""
        async with self.db.read() as s:
            rows = (await s.execute(select(MailMessage.state, func.count()).group_by(MailMessage.state))).all()
        return {state: n for state, n in rows}
