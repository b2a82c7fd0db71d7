"""A raw mail (bytes) into what the hotline needs: who, about what, the text and the files.

Python's `email` parser with policy.default reads the structure; channels/email/mime.py repairs what
it does not (headers folded without whitespace, lying transfer-encoding labels, raw 8-bit file
names, absurd nesting) and channels/email/charsets.py reads text whose charset label lies. A
`multipart/*` that holds no parts (no boundary, or a boundary that never comes) is read as the one
part it is: its text is the body, as mail clients show it. `parse_mail` never raises: what it could
not read is listed in `defects` ("too_deep" when the nesting passes mime.MAX_DEPTH).
"""
from __future__ import annotations

import email
import email.header
import email.parser
import email.utils
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message

from .charsets import decode_bytes
from .mime import leaves, filename, payload_bytes, raw_payload, repair_header_block
from .text import html_to_text, trim_reply

_MSGID = re.compile(r"<[^<>\s]+>")
_MIME_HEADERS = re.compile(rb"^\s*(content-type|content-transfer-encoding|content-disposition|mime-version)\s*:",
                           re.IGNORECASE)
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200})\r?\n(?=content-[a-z-]+\s*:)", re.IGNORECASE | re.MULTILINE)
_HTML = re.compile(r"^\s*(<!doctype html|<html|<head|<body|<div|<p[\s>]|<table|<br)", re.IGNORECASE)


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


_NAME_CUT = re.compile(r"\S*@\S*|[<>\";,\\]|\b[A-Za-z][A-Za-z0-9-]*\s*[:：]")


def display_name(text: str) -> str:
    """A display name fit to echo in a greeting: one line, cut before anything that looks like an
    address or a header ("张三 Bcc: victim@…" -> "张三"), control characters out, at most 30 chars."""
    text = "".join(ch if ch.isprintable() else " " for ch in text or "")
    text = _NAME_CUT.split(text.strip().strip("\"'").strip(), 1)[0]
    return " ".join(text.split())[:30].strip("'. ")


def _address(message: Message, name: str) -> tuple[str, str]:
    values = _raw_values(message, name)
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        pairs = []
    for display, addr in pairs:
        if "@" in addr:
            return display_name(decode_header_value(display)), addr.strip().lower()
    return "", ""


def _message_ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def _charsets(message: Message) -> tuple[str, ...]:
    """Every charset the mail declares, the outermost first (hints for unlabelled bytes)."""
    seen: list[str] = []
    for part, _ in leaves(message):
        charset = part.get_param("charset")
        if isinstance(charset, str) and charset.lower() not in seen:
            seen.append(charset.lower())
    return tuple(seen)


def _inner(part: Message) -> Message | None:
    """The real content of a multipart/* that holds no parts: MIME headers and a body written
    without any boundary, or parts under a boundary other than the one declared."""
    data, _ = payload_bytes(part)
    if _MIME_HEADERS.match(data):
        return email.message_from_bytes(data.lstrip(), policy=policy.default)
    found = _BOUNDARY_LINE.search(data)
    if found:
        head = b'Content-Type: multipart/mixed; boundary="' + found.group(1) + b'"\r\n\r\n'
        inner = email.message_from_bytes(head + data, policy=policy.default)
        return inner if inner.is_multipart() else None
    return None


def _text(part: Message, hints: tuple[str, ...], mail: "ParsedMail") -> str:
    data, lied = payload_bytes(part)
    if lied:
        mail.defects.append("transfer_encoding_mislabelled")
    return decode_bytes(data, part.get_param("charset") if isinstance(part.get_param("charset"), str) else None,
                        hints)


def _collect(mail: "ParsedMail", message: Message, hints: tuple[str, ...], plain: list[str], html: list[str],
             repairs: int = 0) -> None:
    for index, (part, depth) in enumerate(leaves(message)):
        if depth < 0:
            mail.defects.append("too_deep")
            continue
        ctype = (part.get_content_type() or "text/plain").lower()
        if ctype.startswith("multipart/"):  # a container that holds no parts: it is the one part
            mail.defects.append("empty_multipart")
            inner = _inner(part) if repairs < 3 else None
            if inner is not None:
                _collect(mail, inner, hints, plain, html, repairs + 1)
                continue
            text = _text(part, hints, mail)
            (html if _HTML.match(text) else plain).append(text)
            continue
        disposition = (part.get_content_disposition() or "").lower()
        name = filename(part, hints, decode_header_value)
        is_file = disposition == "attachment" or bool(name) or not (ctype.startswith("text/")
                                                                     or ctype == "message/delivery-status")
        if not is_file and ctype == "text/plain":
            plain.append(_text(part, hints, mail))
            continue
        if not is_file and ctype == "text/html":
            html.append(_text(part, hints, mail))
            continue
        if not is_file:
            continue  # text/calendar, delivery-status …: neither body nor a file the citizen sent
        if ctype == "message/rfc822":
            data = _attached_message(part)
        else:
            data, _ = payload_bytes(part)
        ext = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml"}.get(ctype, "")
        mail.files.append(MailFile(name or f"attachment-{len(mail.files) + 1}{ext}", ctype, data))


def _attached_message(part: Message) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        try:
            return inner[0].as_bytes(policy=policy.compat32)
        except Exception:  # an attached mail too broken to write back: its bytes as they came
            pass
    return raw_payload(part)


def _walk_body(mail: "ParsedMail", message: Message) -> None:
    plain: list[str] = []
    html: list[str] = []
    _collect(mail, message, _charsets(message), plain, html)
    if any(p.strip() for p in plain):
        mail.full_body = "\n\n".join(p.strip() for p in plain if p.strip())
    elif html:
        mail.html_only = True
        mail.full_body = "\n\n".join(html_to_text(h) for h in html)
    mail.full_body = mail.full_body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not mail.full_body.strip():  # a forwarded mail attached with no words of its own: its words
        for f in mail.files:
            if f.content_type == "message/rfc822":
                inner = parse_mail(f.data)
                if inner.full_body.strip():
                    mail.full_body = inner.full_body
                    break
    mail.body = trim_reply(mail.full_body)


def _read(raw: bytes, mail: "ParsedMail") -> Message:
    try:
        return email.message_from_bytes(raw, policy=policy.default)
    except RecursionError:  # nesting deeper than Python's parser can follow: the headers still count
        mail.defects.append("too_deep")
        return email.parser.BytesHeaderParser(policy=policy.default).parsebytes(raw)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse leniently; never raises. Headers are decoded; the body is the plain part, else the
    HTML converted to text; attachments (and inline files) are listed with their bytes."""
    mail = ParsedMail(raw=raw)
    try:
        message = _read(repair_header_block(raw), mail)
    except Exception as exc:  # pragma: no cover - the parser is lenient; this is the last guard
        mail.defects.append(f"unparseable: {exc.__class__.__name__}")
        mail.full_body = mail.body = decode_bytes(raw, None)
        return mail
    mail.message = message
    mail.defects.extend(d.__class__.__name__ for d in message.defects)
    try:
        mail.message_id = (_message_ids(" ".join(_raw_values(message, "Message-ID"))) or [""])[0]
        mail.subject = decode_header_value((_raw_values(message, "Subject") or [""])[0])[:300]
        mail.sender_name, mail.sender = _address(message, "From")
        if not mail.sender:
            mail.sender_name, mail.sender = _address(message, "Sender")
        mail.reply_to = _address(message, "Reply-To")[1]
        mail.to = [addr.lower() for _, addr in email.utils.getaddresses(
            _raw_values(message, "To") + _raw_values(message, "Cc")) if "@" in addr]
        mail.date = " ".join((_raw_values(message, "Date") or [""])[0].split())
        mail.in_reply_to = _message_ids(" ".join(_raw_values(message, "In-Reply-To")))
        mail.references = _message_ids(" ".join(_raw_values(message, "References")))
    except Exception as exc:
        mail.defects.append(f"headers: {exc.__class__.__name__}")
    if "too_deep" in mail.defects:
        return mail
    try:
        _walk_body(mail, message)
    except RecursionError:
        mail.defects.append("too_deep")
    except Exception as exc:
        mail.defects.append(f"body: {exc.__class__.__name__}")
        _, _, rest = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        mail.full_body = mail.body = decode_bytes(rest, None)
    return mail
