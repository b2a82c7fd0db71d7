"""Running the gateway: one process serving HTTP (and, when configured, the other channels)."""
from __future__ import annotations

import asyncio
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
    # the models just loaded are millions of long-lived objects: out of the collector's sight,
    # a full collection no longer walks them (it held every conversation for a second or more)
    gc.collect()
    gc.freeze()
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
