"""Mail to departments (reminder notices) through the configured SMTP server (`smtp_url`,
e.g. smtp://user:secret@mail.example:587; smtps:// for implicit TLS)."""
from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib


async def send_mail(settings, to: str, subject: str, body: str) -> None:
    u = urlsplit(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.mail_from or f"12345@{u.hostname or 'localhost'}"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    await aiosmtplib.send(message, hostname=u.hostname or "localhost",
                          port=u.port or (465 if u.scheme == "smtps" else 25),
                          username=unquote(u.username) if u.username else None,
                          password=unquote(u.password) if u.password else None,
                          use_tls=u.scheme == "smtps", start_tls=None if u.scheme == "smtps" else None,
                          timeout=30)
