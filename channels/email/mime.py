"""The few repairs that Python's `email` parser (policy.default, used for everything else) does not
make, each for a breakage mail clients show past without a word:

- a header folded without leading whitespace (a long encoded Subject split over two lines): the
  parser takes the second line as the start of the body, so the title stays raw `=?gb2312?…?=` and
  every later header (Date, List-Id …) becomes text. `repair_header_block` folds such a line back
  when more headers follow it.
- a Content-Transfer-Encoding label that lies (base64 on text that is really 8-bit):
  `payload_bytes` decodes base64 only where the bytes are base64.
- a raw 8-bit file name (Foxmail, old Outlook): `filename` reads it with the mail's charsets.
- nesting far deeper than any client writes: `leaves` stops at MAX_DEPTH (the parser itself
  recurses, so a mail over Python's recursion limit is read for its headers only, by the caller).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import email.message
import email.utils
import quopri
import re
from email import policy
from email.message import Message

from .charsets import decode_bytes

MAX_DEPTH = 40
_HEADER = re.compile(rb"^[!-9;-~]+[ \t]*:")
# a header line for looking ahead: a name and a colon followed by a space or the end ("http://" is not one)
_NEXT_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,70}:([ \t]|\r?$)")
# what servers add on the way: a second delivery of one mail differs only in these
_TRACE = re.compile(rb"^(received|return-path|delivered-to|x-original-to|authentication-results|arc-[a-z-]+|"
                    rb"x-spam[a-z-]*|x-rspamd[a-z-]*|x-virus[a-z-]*|x-ham-report|x-envelope-[a-z-]+)\s*:",
                    re.IGNORECASE)
_B64_TEXT = re.compile(rb"[^A-Za-z0-9+/=\s]")


def repair_header_block(raw: bytes) -> bytes:
    """Fold back header lines written without their leading whitespace: a line that is neither a
    header nor a continuation, followed within three lines by a header, is a continuation."""
    end = len(raw)
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at != -1:
            end = min(end, at)
    if end == len(raw):
        return raw
    lines = raw[:end].split(b"\n")
    changed = False
    for i in range(1, len(lines)):
        line = lines[i]
        if not line.strip(b"\r") or line[:1] in (b" ", b"\t") or _HEADER.match(line):
            continue
        after = [lines[j] for j in range(i + 1, min(i + 4, len(lines)))]
        if any(_NEXT_HEADER.match(a) for a in after) or i == len(lines) - 1:
            lines[i] = b" " + line
            changed = True
        else:
            break  # body text with no blank line before it: leave the rest to the parser
    return b"\n".join(lines) + raw[end:] if changed else raw


def content_fingerprint(raw: bytes) -> str:
    """A hash of a mail without the trace headers servers add on the way."""
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    kept, skipping = [], False
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = bool(_TRACE.match(line))
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"\n".join(kept) + b"\n\n" + body.replace(b"\r\n", b"\n")).hexdigest()


def raw_payload(part: Message) -> bytes:
    """A part's body exactly as it came (the parser keeps 8-bit bytes as surrogate escapes)."""
    # get_payload() would decode 8-bit text with its (possibly wrong) label, replacing what does not
    # fit, and get_payload(decode=True) trusts the transfer-encoding label: neither keeps the bytes
    payload = part._payload
    if isinstance(payload, list):
        return b""
    if isinstance(payload, bytes):
        return payload
    return str(payload or "").encode("ascii", errors="surrogateescape")


def looks_like_base64(data: bytes) -> bool:
    if not data.strip() or not data.isascii():
        return False
    stripped = data.strip()
    bad = len(_B64_TEXT.findall(stripped))
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    spaced = sum(1 for line in lines if b" " in line or b"\t" in line)
    return bad <= max(1, len(stripped) // 200) and spaced <= max(0, len(lines) // 20)


def _b64decode(data: bytes) -> bytes:
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    clean = clean[:-1] if len(clean) % 4 == 1 else clean  # a stray last character carries no byte
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return data


def payload_bytes(part: Message) -> tuple[bytes, bool]:
    """(the decoded body of a leaf part, whether its transfer-encoding label was wrong)."""
    data = raw_payload(part)
    cte = str(part.get("Content-Transfer-Encoding", "") or "").strip().lower()
    if cte == "base64":
        if looks_like_base64(data):
            return _b64decode(data), False
        return data, True
    if cte == "quoted-printable":
        return quopri.decodestring(data), False
    return data, False


def _param_message(part: Message) -> tuple[Message, bool]:
    """The part's Content-Type and Content-Disposition in a compat32 message, raw 8-bit bytes
    carried as Latin-1 characters (compat32 would replace them); and whether there were any."""
    shim = email.message.Message(policy=policy.compat32)
    eight_bit = False
    for name, value in part.raw_items():
        if name.lower() in ("content-type", "content-disposition"):
            value = str(value)
            if not value.isascii():
                eight_bit = True
                value = value.encode("ascii", errors="surrogateescape").decode("latin-1")
            shim[name] = value
    return shim, eight_bit


def filename(part: Message, hints: tuple[str, ...], decode_header) -> str:
    """A part's file name: RFC 2231, RFC 2047 (as clients write it, although the standard does not
    allow it there), or raw 8-bit in whatever charset the mail's text uses."""
    shim, eight_bit = _param_message(part)
    name = shim.get_filename() or shim.get_param("name")
    if isinstance(name, tuple):  # RFC 2231 the parser could not collapse
        name = email.utils.collapse_rfc2231_value(name)
    if not name:
        return ""
    name = str(name).strip()
    if eight_bit and not name.isascii():
        try:
            return decode_bytes(name.encode("latin-1"), None, hints).strip()
        except UnicodeEncodeError:  # RFC 2231 already made it text
            return name
    if "=?" in name:
        return decode_header(name)
    return name


def leaves(message: Message):
    """(part, depth) for each part that is not a container (an attached message/rfc822 is one part),
    in order, without recursion; parts deeper than
    MAX_DEPTH are skipped and reported with depth -1 once."""
    stack = [(message, 0)]
    told = False
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            if not told:
                told = True
                yield part, -1
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list) and part.get_content_type() != "message/rfc822":
            stack.extend((child, depth + 1) for child in reversed(payload))
        else:
            yield part, depth
