"""Real mail servers for the email tests: Debian's dovecot (IMAP, with IDLE) started from a config
generated in a temporary directory on a free port, and an aiosmtpd sink that plays the citizens'
mail server (it receives what the gateway sends).

dovecot is installed by `make system-deps` (package dovecot-imapd); when it is missing the tests
skip locally and fail under CI=true.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aioimaplib
from aiosmtpd.smtp import SMTP

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LDA = "/usr/lib/dovecot/dovecot-lda"
PASSWORD = "mail-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Dovecot:
    """One dovecot instance of our own; any user name logs in with PASSWORD, each user its own
    Maildir, so every test gets an empty mailbox by choosing a new user."""

    def __init__(self):
        # not under pytest's 0700 tmp dirs: the mail processes run as an unprivileged user
        self.root = Path(tempfile.mkdtemp(prefix="hotline-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        if os.geteuid() == 0:  # dovecot refuses to keep mail as root
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.proc: subprocess.Popen | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def write_config(self) -> None:
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, self.uid, self.gid)
        user_lines = ""
        if os.geteuid() != 0:  # an ordinary user runs every dovecot process as itself
            me = pwd.getpwuid(os.getuid()).pw_name
            user_lines = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        self.config.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
first_valid_uid = {min(self.uid, 500)}
{user_lines}
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")

    def start(self) -> "Dovecot":
        self.write_config()
        for d in ("run", "state"):
            (self.root / d).mkdir(exist_ok=True)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"dovecot did not start: {self.log()}")
        return self

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, user: str) -> str:
        return f"imap://{user}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def deliver_lda(self, user: str, raw: bytes) -> None:
        """Deliver as the mail system would: dovecot's LDA writes into the user's Maildir."""
        result = subprocess.run([LDA, "-c", str(self.config), "-d", user], input=raw, capture_output=True,
                                timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"dovecot-lda failed: {result.stderr.decode(errors='replace')}")

    async def client(self, user: str) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=30)
        await client.wait_hello_from_server()
        assert (await client.login(user, PASSWORD)).result == "OK"
        assert (await client.select("INBOX")).result == "OK"
        return client

    async def append(self, user: str, *mails: bytes) -> None:
        """Deliver by IMAP APPEND (what a mail client or a fetchmail-like relay does)."""
        client = await self.client(user)
        try:
            for raw in mails:
                response = await client.append(raw, mailbox="INBOX")
                assert response.result == "OK", response
        finally:
            await client.logout()

    async def keywords(self, user: str, keyword: str) -> tuple[int, int]:
        """(all mails, mails carrying the keyword) in the user's INBOX."""
        client = await self.client(user)
        try:
            everything = (await client.uid_search("ALL", charset=None)).lines[0].split()
            marked = (await client.uid_search(f"KEYWORD {keyword}", charset=None)).lines[0].split()
            return len(everything), len(marked)
        finally:
            await client.logout()


def dovecot_available() -> bool:
    return Path(DOVECOT).exists() and Path(LDA).exists()


@dataclass
class Received:
    at: float
    sender: str
    recipients: list[str]
    raw: bytes
    message: email.message.EmailMessage


@dataclass
class SmtpSink:
    """The other side of the hotline's outgoing mail: keeps every message it is given."""
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(Received(time.monotonic(), envelope.mail_from, list(envelope.rcpt_tos), raw, msg))
        self.arrived.set()
        return "250 2.0.0 OK"

    async def start(self) -> "SmtpSink":
        loop = asyncio.get_running_loop()
        self.port = free_port()
        self.server = await loop.create_server(lambda: SMTP(self, enable_SMTPUTF8=True, hostname="sink", loop=loop),
                                               host="127.0.0.1", port=self.port)
        return self

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=no"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]

    async def wait_for(self, predicate, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; {len(self.messages)} mails arrived")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
