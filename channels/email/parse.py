"""A raw mail (bytes) into what the hotline needs: who, about what, the text and the files.

Real mailboxes hold mail whose labels lie: "gb2312" text with GBK-only characters, "us-ascii" with
UTF-8 bytes, raw 8-bit headers, broken base64, a missing closing boundary. The standard library
parses leniently (compat32 keeps raw headers); every decode here falls back instead of failing,
and `parse_mail` never raises: what it could not read is listed in `defects`.
"""
from __future__ import annotations

import email
import email.header
import email.utils
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message

from .text import html_to_text, trim_reply

# Chinese labels in the wild name a subset of what the text really uses: decode with the superset.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030",
    "cp936": "gb18030", "x-euc-cn": "gb18030", "csgb2312": "gb18030", "chinese": "gb18030",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs", "big-5": "big5hkscs", "cp950": "big5hkscs",
    "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": None, "x-unknown": None, "unknown": None,
}
_FALLBACKS = ("utf-8", "gb18030", "big5hkscs")
_MSGID = re.compile(r"<[^<>\s]+>")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes in the declared charset, else the likeliest of UTF-8, GB18030 and Big5."""
    label = (charset or "").strip().strip('"').lower()
    declared = _CHARSET_ALIASES.get(label, label) or None
    for candidate in ((declared,) if declared else ()) + _FALLBACKS:
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(declared or "utf-8", errors="replace") if declared else data.decode("utf-8", errors="replace")


def decode_header_value(value) -> str:
    """A header as text: encoded words (RFC 2047) in any charset, or raw 8-bit bytes."""
    if value is None:
        return ""
    raw = str(value) if not isinstance(value, email.header.Header) else value
    try:
        chunks = email.header.decode_header(raw)
    except Exception:  # a malformed encoded word: keep the header as it came
        chunks = [(str(raw), None)]
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            # compat32 hands raw 8-bit header bytes back as surrogate escapes
            chunk = chunk.encode("utf-8", errors="surrogateescape")
        out.append(decode_bytes(chunk, charset))
    text = " ".join("".join(out).split())
    return text or " ".join(str(raw).split())  # nothing readable in it: keep it as it came


@dataclass
class MailFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    raw: bytes
    message_id: str = ""
    subject: str = ""
    sender: str = ""               # the address, lower-case
    sender_name: str = ""
    reply_to: str = ""             # kept for agents to see; never where the hotline answers
    to: list[str] = field(default_factory=list)
    date: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    body: str = ""                 # the text, quoted history and signature trimmed
    full_body: str = ""            # the text as written, untrimmed
    html_only: bool = False
    files: list[MailFile] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    message: Message | None = None

    def header(self, name: str) -> str:
        return (self.headers(name) or [""])[0]

    def headers(self, name: str) -> list[str]:
        if self.message is None:
            return []
        return [decode_header_value(v) for v in _raw_values(self.message, name)]



def _raw_values(message: Message, name: str) -> list[str]:
    """A header's values as they came (8-bit bytes as surrogate escapes, not yet replaced)."""
    return [str(v) for k, v in message.raw_items() if k.lower() == name.lower()]


def _address(message: Message, name: str) -> tuple[str, str]:
    values = _raw_values(message, name)
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        pairs = []
    for display, addr in pairs:
        if "@" in addr:
            return decode_header_value(display).strip('" '), addr.strip().lower()
    return "", ""


def _message_ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = str(part.get_payload() or "").encode("utf-8", errors="surrogateescape")
    return decode_bytes(payload, part.get_content_charset())


def _walk_body(mail: ParsedMail, message: Message) -> None:
    plain: list[str] = []
    html: list[str] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        ctype = (part.get_content_type() or "text/plain").lower()
        disposition = (part.get_content_disposition() or "").lower()
        filename = decode_header_value(part.get_filename() or "") if part.get_filename() else ""
        is_file = disposition == "attachment" or bool(filename) or not (ctype.startswith("text/")
                                                                         or ctype == "message/delivery-status")
        if not is_file and ctype == "text/plain":
            plain.append(_part_text(part))
            continue
        if not is_file and ctype == "text/html":
            html.append(_part_text(part))
            continue
        if not is_file:
            continue  # text/calendar, delivery-status …: neither body nor a file the citizen sent
        data = part.get_payload(decode=True)
        if data is None:
            data = str(part.get_payload() or "").encode("utf-8", errors="surrogateescape")
        ext = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml"}.get(ctype, "")
        mail.files.append(MailFile(filename or f"attachment-{index}{ext}", ctype, data))
    if plain:
        mail.full_body = "\n\n".join(p.strip() for p in plain if p.strip())
    elif html:
        mail.html_only = True
        mail.full_body = "\n\n".join(html_to_text(h) for h in html)
    mail.full_body = mail.full_body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    mail.body = trim_reply(mail.full_body)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse leniently; never raises. Headers are decoded; the body is the plain part, else the
    HTML converted to text; attachments (and inline files) are listed with their bytes."""
    mail = ParsedMail(raw=raw)
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:  # pragma: no cover - the parser is lenient; this is the last guard
        mail.defects.append(f"unparseable: {exc.__class__.__name__}")
        mail.full_body = mail.body = decode_bytes(raw, None)
        return mail
    mail.message = message
    mail.defects.extend(d.__class__.__name__ for d in message.defects)
    try:
        mail.message_id = (_message_ids(str(message.get("Message-ID") or "")) or [""])[0]
        mail.subject = decode_header_value((_raw_values(message, "Subject") or [""])[0])[:300]
        mail.sender_name, mail.sender = _address(message, "From")
        if not mail.sender:
            mail.sender_name, mail.sender = _address(message, "Sender")
        mail.reply_to = _address(message, "Reply-To")[1]
        mail.to = [addr.lower() for _, addr in email.utils.getaddresses(
            _raw_values(message, "To") + _raw_values(message, "Cc")) if "@" in addr]
        mail.date = str(message.get("Date") or "")
        mail.in_reply_to = _message_ids(str(message.get("In-Reply-To") or ""))
        mail.references = _message_ids(" ".join(str(v) for v in message.get_all("References") or []))
    except Exception as exc:
        mail.defects.append(f"headers: {exc.__class__.__name__}")
    try:
        _walk_body(mail, message)
    except Exception as exc:
        mail.defects.append(f"body: {exc.__class__.__name__}")
        _, _, rest = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        mail.full_body = mail.body = decode_bytes(rest, None)
    for part in message.walk():
        mail.defects.extend(d.__class__.__name__ for d in getattr(part, "defects", []) if part is not message)
    return mail
