"""Receiving mail directly over SMTP (aiosmtpd), for sites that route the hotline's address to the
gateway instead of to a mailbox.

The server runs on the gateway's own event loop. It answers 250 only after the mail's outcome is
committed; an error answers 451 (try again later), so the sending server keeps the mail and
retries: nothing is lost. A mail over `mail_max_bytes` is refused with 552 by aiosmtpd, and the
sender gets the bounce (the "refused with a note" case).
"""
from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from hotline.logs import log_fields

from .ingest import MailIngest

log = logging.getLogger("hotline.email")


class HotlineHandler:
    def __init__(self, ingest: MailIngest, on_processed=None):
        self.ingest = ingest
        self.on_processed = on_processed or (lambda: None)
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            outcome = await self.ingest.ingest(raw, source="smtp")
        except Exception:
            log.exception("mail over SMTP could not be processed; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        if not outcome.done:  # another worker holds the same Message-ID right now
            return "451 4.3.0 The same message is being processed, please try again later"
        self.received += 1
        if outcome.outgoing:
            self.on_processed()
        return "250 2.0.0 OK"


class SmtpReceiver:
    def __init__(self, ingest: MailIngest, host: str, port: int, max_bytes: int, on_processed=None,
                 reuse_port: bool = False):
        self.reuse_port = reuse_port  # several gateway processes share the port (SO_REUSEPORT)
        self.handler = HotlineHandler(ingest, on_processed)
        self.host, self.port, self.max_bytes = host, port, max_bytes
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self.handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True,
                         hostname="hotline", ident="12345 hotline gateway", loop=loop),
            host=self.host, port=self.port, reuse_port=self.reuse_port or None)
        log.info("SMTP receiver listening", extra=log_fields(host=self.host, port=self.port))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
