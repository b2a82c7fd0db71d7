"""Sending the outbox with aiosmtplib: mails queued in the database leave when the SMTP server
takes them; a failure is retried with growing pauses, and nothing queued is lost by a restart.

Exactly once: each mail is marked as begun (committed) before its SMTP transaction and as sent
after the server's answer (with the same lane's next "begun", one commit per mail). A refusal or a
connection lost before the server took it clears the mark, so it is tried again; a process that
dies mid-transaction leaves the mark, and the mail is not sent again (it may have arrived:
`MailLedger.interrupted` lists it). Stopping (SIGTERM) lets the mails being sent finish and be
marked before the sender ends.

Mails leave by `lanes` SMTP connections at once, each kept open while there is mail to send (a
new one per mail costs more than the mail) and opened again after an error or when the server
closed it. One lane sent one mail at a time: on a busy event loop its round trips (the begun mark,
MAIL, RCPT, DATA) made it slower than mail came in during a burst, and acknowledgements waited
until the burst was over. A process that dies loses at most one mail per lane (listed as above).
"""
from __future__ import annotations

import asyncio
import logging

import aiosmtplib

from cases.db import log_failure
from cases.mailbox import MailLedger
from hotline.logs import log_fields

from .urls import ServerURL

log = logging.getLogger("hotline.email")

MAX_PAUSE_S = 6 * 3600
IDLE_CHECK_S = 5.0


def retry_pause(attempts: int) -> float:
    return min(MAX_PAUSE_S, 30.0 * 2 ** attempts)


class _Lane:
    """One SMTP connection and the mails it has sent but not yet marked."""

    def __init__(self):
        self.client: aiosmtplib.SMTP | None = None
        self.sent: list[int] = []


class OutboxSender:
    def __init__(self, ledger: MailLedger, server: ServerURL | None, mail_from: str, lanes: int = 4):
        if lanes < 1:
            raise ValueError(f"mail sending lanes must be at least 1, not {lanes}")
        self.ledger = ledger
        self.server = server
        self.mail_from = mail_from
        self.wake = asyncio.Event()
        self._lanes = [_Lane() for _ in range(lanes)]
        self.sent = 0
        self.stopping = False
        self._task: asyncio.Task | None = None

    def poke(self) -> None:
        """New mail was queued: send without waiting for the next check."""
        self.wake.set()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.server
        client = aiosmtplib.SMTP(hostname=s.host, port=s.port, use_tls=s.tls,
                                 start_tls=False if s.tls else s.starttls, validate_certs=s.verify,
                                 tls_context=s.ssl_context() if s.tls or s.starttls is not False else None,
                                 username=s.username or None, password=s.password or None, timeout=30)
        await client.connect()
        return client

    async def send_due(self) -> int:
        """Send what is due now, on every lane at once; returns how many were sent."""
        if self.server is None:
            return 0
        count = 0
        while not self.stopping:
            rows = await self.ledger.due(limit=50)
            if not rows:
                break
            share = len(self._lanes)
            sent = await asyncio.gather(*(self._send_on(lane, rows[i::share])
                                          for i, lane in enumerate(self._lanes) if rows[i::share]))
            count += sum(sent)
        return count

    async def _send_on(self, lane: _Lane, rows) -> int:
        """This lane's share of the due mails, one after another. A mail's "sent" mark is written
        with the lane's next "begun" mark, in one transaction (and at the end of the share)."""
        count = 0
        try:
            for row in rows:
                if self.stopping:
                    break
                begun = await self.ledger.begin_send(row.id, lane.sent)
                lane.sent.clear()
                if begun and await self._send(lane, row):
                    lane.sent.append(row.id)
                    count += 1
        finally:
            sent, lane.sent = lane.sent, []
            await self.ledger.mark_sent(sent)
        return count

    async def _send(self, lane: _Lane, row) -> bool:
        """One SMTP transaction; on failure the mail is due again later."""
        try:
            if lane.client is None or not lane.client.is_connected:
                lane.client = await self._connect()
            await lane.client.sendmail(self.mail_from, [row.recipient], row.body.encode("utf-8"))
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            self._drop(lane)
            pause = retry_pause(row.attempts)
            await self.ledger.mark_failed(row.id, f"{exc.__class__.__name__}: {exc}", pause)
            log.warning("mail not sent; retrying later", extra=log_fields(
                outbox=row.id, purpose=row.purpose, error=str(exc)[:200], retry_s=pause))
            return False
        self.sent += 1
        return True

    @staticmethod
    def _drop(lane: _Lane) -> None:
        client, lane.client = lane.client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # already broken: nothing to close politely
                pass

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self.run(), name="mail-outbox")
        return self._task

    async def stop(self, grace_s: float = 35.0) -> None:
        """End the sender after the mail it is sending (marked sent), not in the middle of it."""
        self.stopping = True
        self.wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace_s)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # ended with an error already logged
                pass
        await self.close()

    async def run(self) -> None:
        if self.server is None:
            log.warning("smtp_url is not set: acknowledgements stay in the outbox until it is")
            return
        interrupted = await self.ledger.interrupted()
        if interrupted:
            log.warning("mails cut off mid-send by an earlier stop are not sent again", extra=log_fields(
                outbox=[r.id for r in interrupted][:20], count=len(interrupted)))
        while not self.stopping:
            try:
                await self.send_due()
            except Exception as exc:  # the database may be briefly away; the outbox waits for it
                log_failure(log, "outbox run failed", exc)
            if self.stopping:
                return
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), IDLE_CHECK_S)
            except asyncio.TimeoutError:
                await self.close()  # idle: let the server go

    async def close(self) -> None:
        await asyncio.gather(*(self._quit(lane) for lane in self._lanes if lane.client is not None))

    @staticmethod
    async def _quit(lane: _Lane) -> None:
        client, lane.client = lane.client, None
        try:
            await asyncio.wait_for(client.quit(), 5)
        except Exception:
            client.close()
