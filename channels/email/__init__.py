"""The email channel: the hotline's mailbox as one more way to reach the same bot.

  imap.py / smtpd.py   mail in (a mailbox read over IMAP; or SMTP straight to the gateway)
  parse.py, text.py    bytes -> decoded headers, the citizen's own words, files
  screen.py            spam verdicts (held), auto-replies, bounces, lists (not answered)
  understand.py        kind and category by the bot's NLU and category classifier
  ingest.py            one mail -> case / event / status answer / held, exactly once
  compose.py           acknowledgement, status and notices, threaded, with the case token
  outbox.py            mail out through aiosmtplib, from a queue in the database
  notify.py            case events (reply, close, dispatch, remind) -> mail
  cases/mailbox.py     the mail tables: what was taken, the outbox, the notifier's cursor

`start_mail_channel(services)` starts what the settings ask for and returns the running channel
(None when neither `imap_url` nor `smtpd_port` is set).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from bot.classify import CategoryClassifier
from cases.knowledge import KnowledgeRepository
from cases.mailbox import RELEASABLE, MailLedger
from cases.models import Case
from hotline.logs import log_fields
from hotline.settings import SettingsError

from .compose import Composer
from .imap import ImapReader
from .ingest import MailIngest, Outcome
from .notify import MailNotifier
from .outbox import OutboxSender
from .smtpd import SmtpReceiver
from .urls import imap_server, smtp_server

log = logging.getLogger("hotline.email")

__all__ = ["MailChannel", "start_mail_channel", "mail_configured"]


def mail_configured(settings) -> bool:
    return bool(settings.imap_url or settings.smtpd_port)


class MailChannel:
    """Everything mail in one gateway process; built from the settings and the shared services."""

    def __init__(self, services):
        s = services.settings
        if not s.mail_from or "@" not in s.mail_from:
            raise SettingsError("setting 'mail_from': the hotline's own address is needed to answer mail "
                                "(HOTLINE_MAIL_FROM=12345@city.gov.cn)")
        self.services = services
        self.settings = s
        self.ledger = MailLedger(services.db, s.mail_claim_lease_s)
        self.composer = Composer(s.mail_from, s.base_url, s.timezone)
        self.categories = CategoryClassifier(KnowledgeRepository(services.db))
        self.outbox = OutboxSender(self.ledger, smtp_server(s.smtp_url, s.mail_ca_file) if s.smtp_url else None, s.mail_from,
                                   lanes=s.mail_send_lanes)
        self.ingest = MailIngest(services.store, self.ledger, self.composer,
                                 engine_source=lambda: services.engine, categories=self.categories,
                                 max_bytes=s.mail_max_bytes, own_addresses=(s.mail_from,))
        self.reader = ImapReader(imap_server(s.imap_url, s.mail_ca_file), self.ingest, keyword=s.mail_keyword,
                                 poll_s=s.mail_poll_s, max_bytes=s.mail_max_bytes, workers=s.mail_workers,
                                 on_processed=self.outbox.poke) if s.imap_url else None
        self.receiver = SmtpReceiver(self.ingest, s.smtpd_host, s.smtpd_port, s.mail_max_bytes,
                                     on_processed=self.outbox.poke, reuse_port=s.reuse_port) if s.smtpd_port else None
        self.notifier = MailNotifier(self.ledger, self.composer, s.mail_notify_poll_s, on_queued=self.outbox.poke)
        self._tasks: list[asyncio.Task] = []
        self.lease = None  # hotline.shared.Lease when the mailbox is shared with other processes

    async def start(self) -> "MailChannel":
        if self.receiver is not None:
            await self.receiver.start()
        self.outbox.start()
        self._tasks.append(asyncio.create_task(self.notifier.run(), name="mail-notifier"))
        if self.reader is not None:
            redis = getattr(self.services, "redis", None)
            if redis is not None:
                # several gateway processes: one reads the mailbox, another takes over within the
                # lease's time when it dies (the ledger keeps a mail taken over from being done twice)
                from hotline.shared import Lease

                self.lease = Lease(redis, "mailbox", self.settings.mail_reader_lease_s, prefix=self.settings.redis_prefix)
                work = self.lease.run_while_held(self._read_mailbox)
            else:
                work = self._read_mailbox()
            self._tasks.append(asyncio.create_task(work, name="mail-imap"))
        return self

    async def _read_mailbox(self) -> None:
        try:
            await self.reader.run()
        finally:  # stopped, or the lease went to another process: let go of the connection
            self.reader.connected.clear()
            await self.reader.close()

    def poke(self) -> None:
        """A case changed: mail about it now rather than at the next poll."""
        self.notifier.poke()

    async def held(self, limit: int = 500, states: tuple[str, ...] = RELEASABLE) -> list[dict]:
        """The mails waiting for an agent (held) or left aside (ignored), each with the number of the
        case it is about (if any): what the REST API and the desk list."""
        rows = await self.ledger.held(limit=limit, states=states)
        numbers = {}
        case_ids = {r.case_id for r in rows if r.case_id}
        if case_ids:
            async with self.services.db.read() as s:
                numbers = dict((await s.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))).all())
        return [{"id": r.id, "sender": r.sender, "subject": r.subject, "reason": r.reason, "size": r.size,
                 "received_at": r.claimed_at, "case": numbers.get(r.case_id), "case_id": r.case_id,
                 "raw_sha256": r.raw_sha256, "state": r.state} for r in rows]

    def held_mail(self, raw_sha256: str | None):
        """A held mail as parsed (for an agent to read), or None when its original is not kept."""
        from .parse import parse_mail

        if not raw_sha256:
            return None
        try:
            return parse_mail(self.ingest.original(raw_sha256))
        except OSError:
            return None

    async def release(self, mail_id: int, actor: str, as_new_case: bool = False) -> Outcome:
        """An agent releases a held mail: spam or unusable mail is processed as if it had passed the
        filter; a reply from a stranger about a case becomes an event on that case, or, with
        `as_new_case`, a case of its own (the stranger gets the acknowledgement)."""
        from cases.mailbox import CitizenEvent
        from .parse import parse_mail

        row = await self.ledger.mark_released(mail_id, actor)
        raw = self.ingest.original(row.raw_sha256)
        if row.reason == "foreign_reply" and row.case_id and not as_new_case:
            mail = parse_mail(raw)
            event = CitizenEvent(row.case_id, "third_party_mail", (mail.body or mail.subject)[:5000],
                                 {"sender": mail.sender, "message_id": mail.message_id, "released_by": actor},
                                 actor=actor)
            await self.ledger.finish(row.message_key, "event", reason="released", case_id=row.case_id, event=event)
            return Outcome("event", "released", key=row.message_key, case_id=row.case_id)
        outcome = await self.ingest.ingest(raw, source=row.source, force=True, unthreaded=as_new_case)
        self.outbox.poke()
        return outcome

    async def discard(self, mail_id: int, actor: str) -> None:
        """An agent discards a held mail: nothing is filed or answered; who and when is kept, and a
        mail about a case is noted on the case."""
        from cases.mailbox import CitizenEvent

        row = await self.ledger.get(mail_id)
        if row is None or row.state not in RELEASABLE:
            raise LookupError(f"mail {mail_id} is not held")
        event = None
        if row.case_id:
            event = CitizenEvent(row.case_id, "held_mail_discarded", "",
                                 {"sender": row.sender, "message_id": row.message_id, "subject": row.subject},
                                 actor=actor)
        await self.ledger.discard(mail_id, actor, event)
        log.info("held mail discarded", extra=log_fields(mail=mail_id, actor=actor, reason=row.reason))

    def health(self) -> dict:
        """For /healthz: whether the mailbox is connected (None: no mailbox is read; False also on a
        process standing by while another holds the mailbox's lease)."""
        return {"mailbox": None if self.reader is None else self.reader.connected.is_set(),
                "smtpd": None if self.receiver is None else self.receiver.server is not None}

    async def stop(self) -> None:
        """Stop taking mail first, then let the outbox finish the mail it is sending."""
        if self.receiver is not None:
            await self.receiver.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.reader is not None:
            await self.reader.close()
        await self.outbox.stop()


async def start_mail_channel(services) -> MailChannel | None:
    if not mail_configured(services.settings):
        return None
    return await MailChannel(services).start()
