"""The mail servers as URLs (`HOTLINE_IMAP_URL`, `HOTLINE_SMTP_URL`), checked once at start-up.

  imap://user:password@host:143/INBOX      IMAP; STARTTLS when the server offers it
  imap://…/INBOX?starttls=yes              IMAP that must be upgraded by STARTTLS (never plain)
  imap://host/INBOX?starttls=no            plain IMAP (a server on the same host)
  imaps://user:password@host:993/INBOX     IMAP over TLS from the first byte
  smtp://user:password@host:587            SMTP; STARTTLS when the server offers it
  smtp://host:25?starttls=no               SMTP without TLS (a relay on loopback)
  smtps://user:password@host:465           SMTP over TLS from the first byte

Certificates are checked against the system's CAs, or against `mail_ca_file` (a site's own CA or
a self-signed server certificate, PEM) when that setting names one; `?verify=no` accepts any
certificate (a test server only: it gives up protection against a man in the middle).
User and password are percent-encoded in the URL (`%40` for "@").
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from hotline.settings import SettingsError

_DEFAULT_PORTS = {"imap": 143, "imaps": 993, "smtp": 587, "smtps": 465}
_YES = ("1", "yes", "true", "on")
_NO = ("0", "no", "false", "off")


@dataclass(frozen=True)
class ServerURL:
    scheme: str
    host: str
    port: int
    username: str
    password: str
    mailbox: str = "INBOX"
    tls: bool = False                 # TLS from the first byte
    starttls: bool | None = None      # None: when offered; True: required; False: never
    verify: bool = True
    ca_file: str = ""                 # PEM file the server's certificate is checked against

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def __str__(self) -> str:  # for logs: never the password
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"


def _flag(name: str, setting: str, query: dict, default):
    raw = (query.get(name) or [None])[0]
    if raw is None:
        return default
    if raw.lower() in _YES:
        return True
    if raw.lower() in _NO:
        return False
    raise SettingsError(f"setting {setting!r}: ?{name}= must be yes or no, not {raw!r}")


def parse_server_url(url: str, setting: str, kinds: tuple[str, ...], ca_file: str = "") -> ServerURL:
    """Parse and check one URL; the error names the setting (never echoing the password)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"setting {setting!r}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in kinds:
        raise SettingsError(f"setting {setting!r}: scheme must be one of {', '.join(k + '://' for k in kinds)}")
    if not parts.hostname:
        raise SettingsError(f"setting {setting!r}: the URL names no host")
    query = parse_qs(parts.query)
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    return ServerURL(scheme=scheme, host=parts.hostname, port=port or _DEFAULT_PORTS[scheme],
                     username=unquote(parts.username or ""), password=unquote(parts.password or ""),
                     mailbox=mailbox, tls=scheme.endswith("s"),
                     starttls=_flag("starttls", setting, query, None), verify=_flag("verify", setting, query, True),
                     ca_file=_ca_file(ca_file))


def _ca_file(path: str) -> str:
    if not path:
        return ""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"setting 'mail_ca_file': cannot use {path!r} as CA certificates ({exc})") from None
    return path


def imap_server(url: str, ca_file: str = "") -> ServerURL:
    server = parse_server_url(url, "imap_url", ("imap", "imaps"), ca_file)
    if not server.username:
        raise SettingsError("setting 'imap_url': the URL names no user (imap://user:password@host/INBOX)")
    return server


def smtp_server(url: str, ca_file: str = "") -> ServerURL:
    return parse_server_url(url, "smtp_url", ("smtp", "smtps"), ca_file)
