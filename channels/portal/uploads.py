"""Files a citizen attaches on the portal (with a new case or added to one): how many, how large,
and of which kind, decided from the bytes themselves (the browser's content type and the file's
name are the sender's claims). They go into the case store's content-addressed attachments."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from cases.intake import InvalidInput

MAX_FILES = 5

# what a citizen usually has: photos, scans, documents; each recognised by its first bytes
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"), (b"GIF89a", "image/gif", "gif"),
    (b"%PDF-", "application/pdf", "pdf"),
    (b"PK\x03\x04", "application/zip", "docx/xlsx"),        # Office Open XML documents are zip files
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword", "doc/xls"),
)
ALLOWED_NAMES = "JPG、PNG、GIF、WEBP、HEIC、PDF、Word、Excel、TXT"


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


def sniff(data: bytes, filename: str) -> str | None:
    """The file's content type from its bytes, or None for a kind not taken."""
    for magic, content_type, _ in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    if filename.lower().endswith(".txt") and b"\x00" not in data:
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            return None
    return None


def read_uploads(form, field: str, max_bytes: int) -> list[Upload]:
    """The files of a form field (empty file inputs ignored); InvalidInput naming the field for
    too many, an empty or too large file, or a kind not taken. Nothing is stored here."""
    files = [f for f in form.getall(field, []) if isinstance(f, web.FileField) and f.filename]
    if len(files) > MAX_FILES:
        raise InvalidInput({field: ("too_many_files", {"max": MAX_FILES})})
    out = []
    for f in files:
        data = f.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InvalidInput({field: ("file_too_large", {"name": f.filename, "max": max_bytes // (1024 * 1024)})})
        content_type = sniff(data, f.filename) if data else None
        if content_type is None:
            raise InvalidInput({field: ("attachment_type", {"name": f.filename, "allowed": ALLOWED_NAMES})})
        out.append(Upload(f.filename, content_type, data))
    return out
