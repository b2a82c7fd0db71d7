"""Sending the outbox with aiosmtplib: mails queued in the database leave when the SMTP server
takes them; a failure is retried with growing pauses, and nothing queued is lost by a restart.

One connection is kept open while there is mail to send (a new one per mail costs more than the
mail); it is opened again after an error or when the server closed it.
"""
from __future__ import annotations

import asyncio
import logging

import aiosmtplib

from cases.mailbox import MailLedger
from hotline.logs import log_fields

from .urls import ServerURL

log = logging.getLogger("hotline.email")

MAX_PAUSE_S = 6 * 3600
IDLE_CHECK_S = 5.0


def retry_pause(attempts: int) -> float:
    return min(MAX_PAUSE_S, 30.0 * 2 ** attempts)


class OutboxSender:
    def __init__(self, ledger: MailLedger, server: ServerURL | None, mail_from: str):
        self.ledger = ledger
        self.server = server
        self.mail_from = mail_from
        self.wake = asyncio.Event()
        self._client: aiosmtplib.SMTP | None = None
        self.sent = 0

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
        """Send what is due now; returns how many were sent."""
        if self.server is None:
            return 0
        count = 0
        while True:
            rows = await self.ledger.due(limit=50)
            if not rows:
                return count
            sent: list[int] = []
            try:
                for row in rows:
                    try:
                        if self._client is None or not self._client.is_connected:
                            self._client = await self._connect()
                        await self._client.sendmail(self.mail_from, [row.recipient], row.body.encode("utf-8"))
                    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                        await self._drop()
                        pause = retry_pause(row.attempts)
                        await self.ledger.mark_failed(row.id, f"{exc.__class__.__name__}: {exc}", pause)
                        log.warning("mail not sent; retrying later", extra=log_fields(
                            outbox=row.id, purpose=row.purpose, error=str(exc)[:200], retry_s=pause))
                        continue
                    sent.append(row.id)
            finally:
                # one transaction for the batch; a crash before it sends these again (at least once)
                await self.ledger.mark_sent(sent)
            count += len(sent)
            self.sent += len(sent)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # already broken: nothing to close politely
                pass

    async def run(self) -> None:
        if self.server is None:
            log.warning("smtp_url is not set: acknowledgements stay in the outbox until it is")
            return
        while True:
            try:
                await self.send_due()
            except Exception:  # the database may be briefly away; the outbox waits for it
                log.exception("outbox run failed")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), IDLE_CHECK_S)
            except asyncio.TimeoutError:
                if self._client is not None:  # idle: let the server go
                    await self._quit()

    async def _quit(self) -> None:
        client, self._client = self._client, None
        try:
            await asyncio.wait_for(client.quit(), 5)
        except Exception:
            client.close()

    async def close(self) -> None:
        if self._client is not None:
            await self._quit()
