"""The agents' desk (/desk): hand-off queue and live chat, intake, case work, follow-up, reminders,
printing and data maintenance, for agents, supervisors, department handlers and administrators.

Server-rendered pages (Jinja2, Chinese first) with a little JavaScript for live updates over the
desk's WebSocket (/desk/ws). Every handler is wrapped in `auth.require_role`.
Report pages come from channels/desk/reports.py when that module exists (its `routes`, with full
paths such as /desk/reports, are added here and linked as 统计报表 in the navigation).
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from aiohttp_jinja2 import APP_CONTEXT_PROCESSORS_KEY

from cases.handoffs import HandoffDesk
from cases.workflow import CHANNEL_LABELS, KIND_LABELS, ROLE_LABELS, STATUS_LABELS, label
try:  # moving from hotline.web to hotline (another change in flight)
    from hotline.ratelimit import SlidingWindow
except ImportError:  # pragma: no cover
    from hotline.ratelimit import SlidingWindow
from hotline.web.keys import SERVICES

from . import pages
from .live import LIVE, LiveDesk

log = logging.getLogger("hotline.desk")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _filters(app: web.Application, env) -> None:
    tz = ZoneInfo(app[SERVICES].settings.timezone)

    def local(value: dt.datetime | None, fmt: str) -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    env.filters["desk_time"] = lambda v: local(v, "%m-%d %H:%M")
    env.filters["desk_datetime"] = lambda v: local(v, "%Y-%m-%d %H:%M")
    env.filters["desk_date"] = lambda v: local(v, "%Y-%m-%d")
    env.filters["desk_input_time"] = lambda v: local(v, "%Y-%m-%dT%H:%M")

    def iso_local(value: str | None) -> str:
        """A time kept as ISO text in an event's data (UTC), shown in the desk's time zone."""
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except (TypeError, ValueError):
            return str(value or "")
        return local(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc), "%Y-%m-%d %H:%M")
    env.filters["desk_iso_datetime"] = iso_local
    env.globals["csrf_input"] = pages.csrf_input
    for name, mapping in (("kind_label", KIND_LABELS), ("status_label", STATUS_LABELS),
                          ("channel_label", CHANNEL_LABELS), ("role_label", ROLE_LABELS)):
        env.filters[name] = _labeller(mapping)


def _labeller(mapping):
    import jinja2

    @jinja2.pass_context
    def apply(context, value):
        return label(mapping, value, context.get("locale", "zh")) if value is not None else ""
    return apply


async def _favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml",
                                                            "Cache-Control": "public, max-age=86400"})


def _optional_reports(app: web.Application) -> None:
    try:
        reports = importlib.import_module("channels.desk.reports")
    except ModuleNotFoundError as exc:
        if exc.name != "channels.desk.reports":
            raise  # the module exists but something it imports is missing: say so
        return
    reports.setup(app)
    app[pages.HAS_REPORTS] = True


async def _start(app: web.Application) -> None:
    await app[LIVE].start()
    services = app[SERVICES]
    if services.engine is not None:
        services.engine.runtime.listeners.append(app[LIVE].on_bot_event)
    from .casework import start_reminders
    from .telephony import register_scheduled_calls
    await start_reminders(app)
    register_scheduled_calls(app)  # before the scheduler's first round runs (no await in between)


async def _stop(app: web.Application) -> None:
    from .casework import stop_reminders
    await stop_reminders(app)
    engine = app[SERVICES].engine
    if engine is not None and app[LIVE].on_bot_event in engine.runtime.listeners:
        engine.runtime.listeners.remove(app[LIVE].on_bot_event)
    await app[LIVE].stop()


def setup(app: web.Application) -> None:
    from channels.webchat import HUB

    from . import admin, calls_api, casework, chat, inbox, mailhold, telephony

    env = aiohttp_jinja2.get_env(app)
    env.loader.searchpath.append(str(TEMPLATES))
    _filters(app, env)
    app[APP_CONTEXT_PROCESSORS_KEY].append(pages.desk_context)
    services = app[SERVICES]
    live = LiveDesk(HandoffDesk(services.db), app.get(HUB), services.settings.redis_url)
    app[LIVE] = live
    if HUB in app:
        app[HUB].intercept = live.citizen_message
    app[pages.LOGIN_LIMIT] = (SlidingWindow(30, 60.0), SlidingWindow(10, 60.0))
    app[pages.HAS_REPORTS] = False
    r = app.router
    r.add_get("/desk", pages.home)
    r.add_get("/desk/login", pages.login_form)
    r.add_post("/desk/login", pages.login)
    r.add_post("/desk/logout", pages.logout)
    r.add_static("/desk/static/", STATIC)
    if not any(getattr(res, "canonical", "") == "/favicon.ico" for res in r.resources()):
        r.add_get("/favicon.ico", _favicon)  # browsers ask for it on every page, the portal's too
    chat.add_routes(app)
    casework.add_routes(app)
    inbox.add_routes(app)
    admin.add_routes(app)
    telephony.add_routes(app)
    calls_api.add_routes(app)  # the same scheduled calls over the REST API
    mailhold.add_routes(app)
    _optional_reports(app)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
