"""Reading the hotline's mailbox over IMAP (aioimaplib): IDLE when the server offers it, polling
otherwise.

TLS: `imaps://` speaks TLS from the first byte; on `imap://` the connection is upgraded with
STARTTLS (RFC 3501 6.2.1) before the password is sent whenever the server offers it, and
`?starttls=yes` refuses to log in without it. aioimaplib knows the command but not the upgrade,
so `_starttls` sends it and swaps the connection's transport for a TLS one (asyncio's start_tls).

Which mails are new is kept at the server with a keyword (`mail_keyword`, default `$Hotline12345`):
a mail without it is fetched (BODY.PEEK, so the \\Seen flag people use stays theirs), processed, and
only then marked. A crash in between leaves it unmarked; the next pass fetches it again and the
ledger makes that retry harmless. Mails larger than `mail_max_bytes` are not fetched whole: their
header makes a case that says so, and the original stays in the mailbox.
"""
from __future__ import annotations

import asyncio
import logging
import re

import aioimaplib

from cases.db import log_failure
from hotline.logs import log_fields

from .ingest import MailIngest
from .urls import ServerURL

log = logging.getLogger("hotline.email")

BATCH = 25
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")


class ImapError(RuntimeError):
    pass


def _check(response, what: str):
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines[-1:]).decode("utf-8", "replace")
        raise ImapError(f"IMAP {what} failed: {response.result} {text}")
    return response


def parse_fetch(lines: list) -> dict[int, dict]:
    """{uid: {"size": n, "data": bytes}} from a FETCH response as aioimaplib returns it: status lines
    as bytes, each literal as one bytearray after the line announcing it. The UID may come before
    or after the literal, depending on the server."""
    out: dict[int, dict] = {}
    current: dict | None = None
    pending_uid = False
    for item in lines:
        if isinstance(item, bytearray):
            if current is not None:
                current["data"] = bytes(item)
            continue
        line = bytes(item)
        if b" FETCH (" in line:
            current = {}
            pending_uid = True
        if current is None:
            continue
        uid, size = _UID.search(line), _SIZE.search(line)
        if size:
            current["size"] = int(size.group(1))
        if uid and pending_uid:
            out[int(uid.group(1))] = current
            pending_uid = False
    return out


class ImapReader:
    def __init__(self, server: ServerURL, ingest: MailIngest, *, keyword: str, poll_s: float, max_bytes: int,
                 workers: int = 4, on_processed=None):
        self.server = server
        self.ingest = ingest
        self.keyword = keyword
        self.poll_s = poll_s
        self.max_bytes = max_bytes
        self.workers = max(1, workers)
        self.on_processed = on_processed or (lambda: None)
        self.client: aioimaplib.IMAP4 | None = None
        self.connected = asyncio.Event()
        self.encrypted = False  # whether the current connection is TLS (imaps or STARTTLS)
        self.processed = 0

    async def connect(self) -> aioimaplib.IMAP4:
        s = self.server
        if s.tls:
            client = aioimaplib.IMAP4_SSL(host=s.host, port=s.port, timeout=30, ssl_context=s.ssl_context())
        else:
            client = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=30)
        try:
            await client.wait_hello_from_server()
            self.encrypted = s.tls
            if not s.tls and s.starttls is not False:
                if client.has_capability("STARTTLS"):
                    await self._starttls(client)
                    self.encrypted = True
                elif s.starttls:
                    raise ImapError(f"IMAP server {s.host}:{s.port} offers no STARTTLS, and imap_url requires it "
                                    "(?starttls=yes)")
            _check(await client.login(s.username, s.password), "LOGIN")
            _check(await client.select(s.mailbox), f"SELECT {s.mailbox}")
        except BaseException:
            transport = client.protocol.transport  # not logged in: nothing to say goodbye to
            if transport is not None:
                transport.close()
            raise
        return client

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        _check(await asyncio.wait_for(protocol.execute(aioimaplib.Command(
            "STARTTLS", protocol.new_tag(), loop=protocol.loop)), 30), "STARTTLS")
        loop = asyncio.get_running_loop()
        protocol.transport = await asyncio.wait_for(loop.start_tls(
            protocol.transport, protocol, self.server.ssl_context(), server_hostname=self.server.host), 30)
        # what the server said before TLS may have been forged: ask again (RFC 3501 6.2.1)
        await asyncio.wait_for(protocol.capability(), 30)

    @staticmethod
    async def _quiet_logout(client: aioimaplib.IMAP4) -> None:
        try:
            await asyncio.wait_for(client.logout(), 5)
        except Exception:
            pass

    async def run(self) -> None:
        """Read forever; reconnect with growing pauses when the server goes away."""
        pause = 1.0
        while True:
            try:
                self.client = await self.connect()
                log.info("mailbox connected", extra=log_fields(server=str(self.server), mailbox=self.server.mailbox,
                                                               idle=self.client.has_capability("IDLE"),
                                                               tls=self.encrypted))
                self.connected.set()
                pause = 1.0
                while True:
                    # mail that came in during a pass is announced by no IDLE: look again until a
                    # pass finds nothing, then wait
                    while await self.scan():
                        pass
                    await self.wait_for_mail()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("mailbox connection lost; reconnecting", extra=log_fields(
                    server=str(self.server), error=f"{exc.__class__.__name__}: {exc}"[:300], retry_s=pause))
                await self._logout()
                await asyncio.sleep(pause)
                pause = min(60.0, pause * 2)

    async def _logout(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await self._quiet_logout(client)

    async def close(self) -> None:
        await self._logout()

    async def wait_for_mail(self) -> None:
        """IDLE until the server announces mail (or poll_s passes); without IDLE, sleep poll_s."""
        client = self.client
        if not client.has_capability("IDLE"):
            await asyncio.sleep(self.poll_s)
            return
        idle = await client.idle_start(timeout=self.poll_s)
        try:
            while client.has_pending_idle():
                push = await client.wait_server_push(timeout=self.poll_s + 5)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(b"EXISTS" in bytes(line) for line in (push if isinstance(push, list) else [push])
                       if isinstance(line, (bytes, bytearray))):
                    break
        except asyncio.TimeoutError:
            pass
        finally:
            client.idle_done()
            await asyncio.wait_for(idle, 10)

    async def scan(self) -> int:
        """Process every mail not yet marked; returns how many were marked done (mails another
        reader holds are left for a later pass and not counted, so a pass that finds only those
        ends the looking). `workers` mails are processed at once, fed from a queue that the next
        fetch refills while they work (at most two batches in memory); what is done is marked
        after each fetch and at the end."""
        client = self.client
        response = _check(await client.uid_search(f"UNKEYWORD {self.keyword}", charset=None), "SEARCH")
        uids = [int(x) for line in response.lines[:-1] for x in bytes(line).split() if x.isdigit()]
        if not uids:
            return 0
        queue: asyncio.Queue = asyncio.Queue(maxsize=BATCH)
        finished: list[int] = []

        async def work() -> None:
            while (item := await queue.get()) is not None:
                uid = await self._one(*item)
                if uid is not None:
                    finished.append(uid)

        workers = [asyncio.create_task(work(), name="mail-worker") for _ in range(min(self.workers, len(uids)))]
        done = 0
        try:
            for start in range(0, len(uids), BATCH):
                fetched = await self._fetch(uids[start:start + BATCH])
                for uid, (raw, truncated) in sorted(fetched.items()):
                    await queue.put((uid, raw, truncated))
                done += await self._mark(finished)
        except BaseException:
            # the connection failed: what waits is left for the next pass, the started mails
            # finish (unmarked: the ledger knows them when they come again)
            while not queue.empty():
                queue.get_nowait()
            raise
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
        return done + await self._mark(finished)

    async def _fetch(self, uids: list[int]) -> dict[int, tuple[bytes, int | None]]:
        """{uid: (bytes, None)}, or (header bytes, size) for a mail over the size limit."""
        client = self.client
        uid_set = ",".join(map(str, uids))
        sizes = parse_fetch(_check(await client.uid("fetch", uid_set, "(UID RFC822.SIZE)"), "FETCH").lines)
        whole = [u for u in uids if sizes.get(u, {}).get("size", 0) <= self.max_bytes]
        large = [u for u in uids if u not in whole]
        fetched: dict[int, tuple[bytes, int | None]] = {}
        if whole:
            got = parse_fetch(_check(await client.uid("fetch", ",".join(map(str, whole)), "(UID BODY.PEEK[])"),
                                     "FETCH").lines)
            fetched.update({u: (v.get("data", b""), None) for u, v in got.items() if "data" in v})
        if large:
            got = parse_fetch(_check(await client.uid("fetch", ",".join(map(str, large)),
                                                      "(UID BODY.PEEK[HEADER])"), "FETCH").lines)
            fetched.update({u: (v.get("data", b""), sizes[u]["size"]) for u, v in got.items() if "data" in v})
        return fetched

    async def _one(self, uid: int, raw: bytes, truncated: int | None) -> int | None:
        try:
            outcome = await self.ingest.ingest(raw, source="imap", truncated_size=truncated)
        except Exception as exc:
            # left unmarked: tried again on the next pass (the ledger keeps it exactly-once)
            log_failure(log, "mail could not be processed; will retry", exc, uid=uid)
            return None
        if outcome.outgoing:
            self.on_processed()
        return uid if outcome.done else None

    async def _mark(self, finished: list[int]) -> int:
        """STORE the keyword on the mails finished so far (and empty the list)."""
        done, finished[:] = list(finished), []
        if done:
            _check(await self.client.uid("store", ",".join(map(str, done)), f"+FLAGS.SILENT ({self.keyword})"),
                   "STORE")
            self.processed += len(done)
        return len(done)
