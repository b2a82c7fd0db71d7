"""Running the gateway: one process serving HTTP (and, when configured, the other channels)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import errno
import signal

from aiohttp import web

from channels.email import mail_configured, start_mail_channel
from channels.email.web import setup_routes as mail_routes

from .logs import log_fields
from .memory import SurvivorFreezer, freeze_long_lived
from .services import Services
from .settings import Settings
from .startup import StartupError, bind_failure
from .web import create_app
from .web.keys import METRICS

log = logging.getLogger("hotline")

BIND_ERRORS = {errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL}


def run(main, event_loop: str = "asyncio") -> None:
    """Run `main` to its end on the chosen event loop (setting event_loop)."""
    if event_loop == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main)


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Start every part, serve until SIGINT/SIGTERM, stop them in reverse order. A part that fails
    to start stops the ones already started (their threads and connections would otherwise keep a
    process alive that serves nothing) and raises; a port that cannot be bound is a StartupError."""
    async with contextlib.AsyncExitStack() as started:
        services = await Services.create(settings)
        started.push_async_callback(services.close)
        if settings.bot_enabled:
            await services.start_bot()
        else:
            log.info("bot disabled by settings: web chat and the REST channel answer 503")
        app = create_app(services)
        if mail_configured(settings):  # the mailbox (IMAP) and/or SMTP receiver, when configured
            with _binding(f"SMTP {settings.smtpd_host}:{settings.smtpd_port}"):
                mail = await start_mail_channel(services)
            started.push_async_callback(mail.stop)
            mail_routes(app, mail)  # agents list and release held mail (channels/email/web.py)
        from channels.voice.run import start_voice_channel  # phone: on when speech models are found
        with _binding(f"telephony (AGI port {settings.agi_port}, AudioSocket port {settings.audiosocket_port})"):
            voice = await start_voice_channel(services)
        if voice is not None:
            started.push_async_callback(voice.close)
        freeze_long_lived()
        freezer = SurvivorFreezer(settings.gc_thaw_minutes * 60)
        freezer.start()
        started.push_async_callback(freezer.stop)
        app[METRICS].watch_collector(freezer)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        started.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_address=True,
                           reuse_port=settings.reuse_port or None)
        with _binding(f"HTTP {settings.http_host}:{settings.http_port}"):
            await site.start()
        loop = asyncio.get_running_loop()
        log.info("gateway listening", extra=log_fields(**addresses(settings, voice),
                                                       database=settings.database_url.split("://")[0],
                                                       loop=type(loop).__module__.split(".")[0]))
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass
        if ready:
            ready.set()
        await stop.wait()
        log.info("gateway stopping")


def addresses(settings: Settings, voice) -> dict[str, str]:
    """Where the operator (and Asterisk, and mail) reach this gateway: the start's last line."""
    base = settings.base_url
    found = {"url": base, "desk": f"{base}/desk", "api": f"{base}/api/openapi.json", "health": f"{base}/healthz"}
    if voice is not None:
        found["agi"] = f"agi://{voice.host}:{voice.agi_port}/hotline"
        found["audiosocket"] = f"{voice.host}:{voice.audiosocket_port}"
    if settings.smtpd_port:
        found["smtp"] = f"{settings.smtpd_host}:{settings.smtpd_port}"
    return found


@contextlib.contextmanager
def _binding(what: str):
    """A listening socket that cannot be bound becomes the one line the operator reads."""
    try:
        yield
    except OSError as exc:
        if exc.errno in BIND_ERRORS:
            raise StartupError(bind_failure(what, exc)) from None
        raise
