"""Real mail servers for the email tests: Debian's dovecot (IMAP, with IDLE) started from a config
generated in a temporary directory on a free port, and an aiosmtpd sink that plays the citizens'
mail server (it receives what the gateway sends).

dovecot is installed by `make system-deps` (package dovecot-imapd); when it is missing the tests
skip locally and fail under CI=true. `Dovecot(tls=True)` serves TLS with a certificate made here
(a CA of our own signs it: `ca_file` is what a site would give the gateway as `mail_ca_file`):
IMAPS on `tls_port` and STARTTLS on `port`.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import email.policy
import os
import pwd
import shutil
import socket
import ssl
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


def make_certificates(folder: Path, name: str = "Hotline test CA") -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o644)  # dovecot reads it as root before dropping privileges; a test key
    return paths


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

    def __init__(self, tls: bool = False):
        # not under pytest's 0700 tmp dirs: the mail processes run as an unprivileged user
        self.root = Path(tempfile.mkdtemp(prefix="hotline-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.ca_file: Path | None = None
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
        ssl = "ssl = no"
        if self.tls:
            self.ca_file, cert, key = make_certificates(self.root)
            ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        self.config.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
{ssl}
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
    port = {self.tls_port}
    {"ssl = yes" if self.tls else ""}
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
            if self.tls:
                wait_port(self.tls_port)
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

    def url(self, user: str, *, imaps: bool = False, query: str = "") -> str:
        if imaps:
            return f"imaps://{user}:{PASSWORD}@127.0.0.1:{self.tls_port}/INBOX{query}"
        return f"imap://{user}:{PASSWORD}@127.0.0.1:{self.port}/INBOX{query}"

    def deliver_lda(self, user: str, raw: bytes) -> None:
        """Deliver as the mail system would: dovecot's LDA writes into the user's Maildir."""
        result = subprocess.run([LDA, "-c", str(self.config), "-d", user], input=raw, capture_output=True,
                                timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"dovecot-lda failed: {result.stderr.decode(errors='replace')}")

    async def client(self, user: str) -> aioimaplib.IMAP4:
        if self.tls:
            client = aioimaplib.IMAP4_SSL(host="127.0.0.1", port=self.tls_port, timeout=30,
                                          ssl_context=ssl.create_default_context(cafile=str(self.ca_file)))
        else:
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
