"""The agents' desk (/desk): hand-off queue and live chat, intake, case work, follow-up, reminders,
printing and data maintenance, for agents, supervisors, department handlers and administrators.

Server-rendered pages (Jinja2, Chinese first) with a little JavaScript for live updates over the
desk's WebSocket (/desk/ws). Every handler is wrapped in `auth.require_role`.
Report pages come from channels/desk/reports.py when that module exists (its `routes`, with full
paths such as /desk/reports, are added here and linked as 统计报表 in the navigation).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_jinja2 import APP_CONTEXT_PROCESSORS_KEY

from cases.handoffs import HandoffDesk
from cases.workflow import CHANNEL_LABELS, KIND_LABELS, ROLE_LABELS, STATUS_LABELS, label
from hotline.ratelimit import Limiter
from hotline.web.keys import SERVICES

from . import pages
from .live import LIVE, LiveDesk

log = logging.getLogger("hotline.desk")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def services_dir(app: web.Application) -> Path:
    return Path(app[SERVICES].settings.data_dir)


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
    env.filters["local_name"] = jinja2.pass_context(_local_name)


def _local_name(context, row) -> str:
    """A department's or category's name in the page's language (its English name where it has one)."""
    if row is None:
        return ""
    return (getattr(row, "name_en", "") or row.name) if context.get("locale") == "en" else row.name


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


WARM = web.AppKey("desk_warm", asyncio.Task)


class CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept for the whole process (every application in it: the tests make many)
    and, where the data folder allows, on disk (`data_dir/cache/jinja`), so a restart loads them."""
    memory: dict[str, bytes] = {}
    warmed = False

    def __init__(self, folder: Path | None):
        self.disk = jinja2.FileSystemBytecodeCache(str(folder)) if folder else None

    def load_bytecode(self, bucket) -> None:
        data = self.memory.get(bucket.key + bucket.checksum)
        if data is not None:
            bucket.bytecode_from_string(data)
        elif self.disk is not None:
            self.disk.load_bytecode(bucket)
            if bucket.code is not None:
                self.memory[bucket.key + bucket.checksum] = bucket.bytecode_to_string()

    def dump_bytecode(self, bucket) -> None:
        self.memory[bucket.key + bucket.checksum] = bucket.bytecode_to_string()
        if self.disk is not None:
            try:
                self.disk.dump_bytecode(bucket)
            except OSError:
                pass


def _warm_up(env) -> None:
    """Compile every page template and import what the first hand-back needs, once per process, in
    a thread at start: Jinja compiles a template the first time it is used, and on this 2-core
    machine the case page (with its frame and telephony panel) took 1.5–2 s, the live queue with its
    imports as long, so the first 回访, 归档 or hand-back of a process answered in 2.1–2.3 s (issue 20)."""
    if CompiledTemplates.warmed:
        return
    CompiledTemplates.warmed = True
    for name in env.list_templates(filter_func=lambda n: n.endswith(".html")):
        try:
            env.get_template(name)
        except Exception:  # a template that does not compile fails where it is used, with its error
            log.warning("template %s does not compile", name, exc_info=True)
    importlib.import_module("bot.actions.conversation")  # the rating buttons sent on handing back


CHAT_CHANNELS = ("webchat", "rest", "socketio")  # the bot's names of the channels whose hand-offs come here


async def _start(app: web.Application) -> None:
    env = aiohttp_jinja2.get_env(app)
    app[WARM] = asyncio.get_running_loop().create_task(asyncio.to_thread(_warm_up, env))
    await app[LIVE].start()
    services = app[SERVICES]
    if services.engine is not None:
        runtime = services.engine.runtime
        runtime.listeners.append(app[LIVE].on_bot_event)
        # the chats' hand-offs go to this desk: nobody on duty, and the citizen is told so
        for channel in CHAT_CHANNELS:
            runtime.duty_checks[channel] = app[LIVE].anyone_on_duty
        runtime.agent_hours = services.settings.agent_hours
    from .casework import start_reminders
    from .telephony import register_scheduled_calls
    await start_reminders(app)
    register_scheduled_calls(app)  # before the scheduler's first round runs (no await in between)


async def _stop(app: web.Application) -> None:
    if WARM in app:
        await asyncio.gather(app[WARM], return_exceptions=True)  # a thread cannot be cancelled
    from .casework import stop_reminders
    await stop_reminders(app)
    engine = app[SERVICES].engine
    if engine is not None and app[LIVE].on_bot_event in engine.runtime.listeners:
        engine.runtime.listeners.remove(app[LIVE].on_bot_event)
    if engine is not None:
        for channel in CHAT_CHANNELS:
            if engine.runtime.duty_checks.get(channel) == app[LIVE].anyone_on_duty:
                del engine.runtime.duty_checks[channel]
    await app[LIVE].stop()


def setup(app: web.Application) -> None:
    from channels.webchat import HUB

    from . import admin, calls_api, casework, chat, inbox, mailhold, requests_api, similar, telephony, transfers

    env = aiohttp_jinja2.get_env(app)
    env.loader.searchpath.append(str(TEMPLATES))
    folder: Path | None = services_dir(app) / "cache" / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only data folder: compiled templates are kept in memory only
        folder = None
    env.bytecode_cache = CompiledTemplates(folder)
    _filters(app, env)
    app[APP_CONTEXT_PROCESSORS_KEY].append(pages.desk_context)
    services = app[SERVICES]
    live = LiveDesk(HandoffDesk(services.db), app.get(HUB), services.settings.redis_url,
                    redis_prefix=services.settings.redis_prefix)
    app[LIVE] = live
    if HUB in app:
        app[HUB].intercept = live.citizen_message
    redis, prefix = getattr(services, "redis", None), services.settings.redis_prefix
    app[pages.LOGIN_LIMIT] = (Limiter("login-client", 30, 60.0, redis, prefix=prefix),
                              Limiter("login-user", 10, 60.0, redis, prefix=prefix))
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
    similar.add_routes(app)  # 相似工单: link, merge, similar cases at intake
    inbox.add_routes(app)
    admin.add_routes(app)
    telephony.add_routes(app)
    calls_api.add_routes(app)  # the same scheduled calls over the REST API
    requests_api.add_routes(app)  # departments' requests and the centre's decisions over the REST API
    transfers.add_routes(app)  # transfers of a live call, and the leaders' list
    mailhold.add_routes(app)
    _optional_reports(app)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
