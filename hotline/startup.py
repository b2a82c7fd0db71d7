"""What `hotline run` checks before the slow part of its start (training or loading the bot), and
how a start that cannot go on ends: one line on stderr saying why, exit status 1, no process left
behind that serves nothing.

The checks are cheap (a database connection, a trial bind of each listening address), so a port
taken by another gateway or an unreachable database is reported in a second, not after the minute
the bot takes to load. The real binds later are still translated the same way (something may take
a port in between)."""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from .settings import Settings

log = logging.getLogger("hotline.startup")

DB_CONNECT_TIMEOUT_S = 5


class StartupError(Exception):
    """The gateway cannot start; the message is the one line the operator reads."""


@dataclass(frozen=True)
class Listener:
    what: str  # what the port is for, as the operator knows it
    host: str
    port: int
    shared: bool = False  # bound with SO_REUSEPORT: other gateway processes listen there too

    def __str__(self) -> str:
        return f"{self.what} {self.host}:{self.port}"


def listeners(settings: Settings) -> list[Listener]:
    """The addresses this configuration will listen on (voice only when it will be on)."""
    shared = settings.reuse_port
    found = [Listener("HTTP", settings.http_host, settings.http_port, shared)]
    if settings.smtpd_port:
        found.append(Listener("SMTP", settings.smtpd_host, settings.smtpd_port, shared))
    if _voice_will_start(settings):
        found.append(Listener("AGI", settings.voice_host, settings.agi_port, shared))
        found.append(Listener("AudioSocket", settings.voice_host, settings.audiosocket_port))
    return found


def _voice_will_start(settings: Settings) -> bool:
    """The same conditions as channels/voice/run.py, without loading anything (paths only)."""
    if not (settings.agi_port and settings.audiosocket_port and settings.bot_enabled):
        return False
    from speech.models import find_piper_voice, find_vosk_model

    return all(f.path is not None and f.path.exists()
               for f in (find_vosk_model(settings.vosk_model), find_piper_voice(settings.piper_voice)))


def check_listeners(settings: Settings) -> None:
    """Bind each address for a moment, as the server will (SO_REUSEADDR), and let it go again."""
    for listener in listeners(settings):
        try:
            infos = socket.getaddrinfo(listener.host or None, listener.port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise StartupError(f"cannot listen for {listener}: unknown host ({exc.strerror})") from None
        for family, kind, proto, _name, address in infos:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if listener.shared:  # taken only by a process that does not share it
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise StartupError(bind_failure(listener, exc)) from None


def bind_failure(listener: Listener | str, exc: OSError) -> str:
    reason = {errno.EADDRINUSE: "the port is already in use (another gateway or program listens there)",
              errno.EACCES: "permission denied (ports below 1024 need privileges)",
              errno.EADDRNOTAVAIL: "this machine has no such address"}.get(exc.errno, exc.strerror or str(exc))
    return f"cannot listen for {listener}: {reason}"


def safe_url(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def check_database(url: str) -> None:
    """Connect once (a few seconds at most) so that an unreachable database is named at once."""
    from cases.db import is_sqlite, make_sync_engine

    args = {} if is_sqlite(url) else {"connect_timeout": DB_CONNECT_TIMEOUT_S}
    try:
        engine = make_sync_engine(url, connect_args=args)
    except (ValueError, sa_exc.ArgumentError) as exc:
        raise StartupError(f"setting 'db_url': {exc}") from None
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise StartupError(f"database {safe_url(url)}: {exc.strerror}: {exc.filename}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sa_exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise StartupError(f"database {safe_url(url)} unreachable: {first}") from None
    finally:
        engine.dispose()


def one_line(exc: BaseException) -> str:
    """An unexpected failure as one line: its kind and the first line of its message."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def fail(reason: str, status: int = 1) -> int:
    """Say why on stderr, then end (see `finish`)."""
    print(f"error: cannot start: {reason}", file=sys.stderr, flush=True)
    return finish(status)


def finish(status: int) -> int:
    """The exit status, once every part is stopped. A library thread that never ends (an SQLite
    connection abandoned by a cancelled query, TensorFlow's) must not keep alive a process that
    serves nothing, so when one is left the process ends at once instead of waiting for it."""
    leftover = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if leftover:
        log.debug("ending with threads still running", extra={"fields": {"threads": [t.name for t in leftover]}})
        sys.stdout.flush()
        logging.shutdown()
        os._exit(status)
    return status
