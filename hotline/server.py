"""Running the gateway: one process serving HTTP (and, when configured, the other channels)."""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import signal

from aiohttp import web

from channels.email import mail_configured, start_mail_channel
from channels.email.web import setup_routes as mail_routes

from .logs import log_fields
from .services import Services
from .settings import Settings
from .web import create_app

log = logging.getLogger("hotline")


def freeze_long_lived() -> None:
    """Put what is loaded by now (the models: about 800,000 objects that live as long as the process)
    out of the garbage collector's sight. A full collection walks every tracked object while holding
    the GIL: 0.6 s with the bot and speech models loaded on an idle machine, over 1.5 s on a busy
    one, and during it no thread runs, not even the audio pacer, so calls would go silent.

    Loading also leaves freed memory in the C heap (TensorFlow builds and drops graphs, the model
    archive is unpacked): it is handed back to the system, about 150 MB of resident memory."""
    gc.collect()
    gc.freeze()
    release_free_memory()


def release_free_memory() -> None:
    """glibc keeps freed memory for reuse; malloc_trim returns the free pages to the system."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    services = await Services.create(settings)
    if settings.bot_enabled:
        await services.start_bot()
    else:
        log.info("bot disabled by settings: web chat and the REST channel answer 503")
    app = create_app(services)
    mail = None
    if mail_configured(settings):  # the mailbox (IMAP) and/or SMTP receiver, when configured
        mail = await start_mail_channel(services)
        mail_routes(app, mail)  # agents list and release held mail (channels/email/web.py)
    from channels.voice.run import start_voice_channel  # phone: on when speech models are found
    voice = await start_voice_channel(services)
    freeze_long_lived()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_address=True)
    await site.start()
    log.info("gateway listening", extra=log_fields(url=settings.base_url, database=settings.database_url.split("://")[0]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    if ready:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("gateway stopping")
        if voice is not None:
            await voice.close()
        if mail is not None:
            await mail.stop()
        await runner.cleanup()
        await services.close()
