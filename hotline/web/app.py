"""Application factory and the middlewares every request passes through."""
from __future__ import annotations

import logging
import time
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import hdrs, web
from sqlalchemy import text

from cases.db import is_outage
from cases.intake import InvalidInput
from cases.store import Forbidden, NotFound
from cases.workflow import IllegalTransition

from ..i18n import field_errors, pick_locale, translator
from ..logs import log_fields
from ..services import Services
from . import csrf
from .keys import METRICS, SERVICES
from .metrics import Metrics
from .responses import json_response

log = logging.getLogger("hotline.web")

LOCALE_COOKIE = "hotline_lang"


def wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/webhooks/"))


def _error(request: web.Request, status: int, code: str, extra: dict | None = None) -> web.Response:
    t = translator(request.get("locale", "zh"))
    message = t(f"errors.http.{code}")
    if wants_json(request):
        return json_response({"error": code, "message": message, **(extra or {})}, status=status)
    response = aiohttp_jinja2.render_template("error.html", request,
                                              {"status": status, "message": message}, status=status)
    return response


@web.middleware
async def locale_middleware(request: web.Request, handler):
    request["locale"] = pick_locale(request.query.get("lang"), request.cookies.get(LOCALE_COOKIE),
                                    request.headers.get("Accept-Language"))
    response = await handler(request)
    if request.query.get("lang") == request["locale"] and isinstance(response, web.StreamResponse) \
            and not response.prepared:
        response.set_cookie(LOCALE_COOKIE, request["locale"], max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Bad input gets a clear answer naming the field; nothing else leaks (no stack traces)."""
    try:
        return await handler(request)
    except InvalidInput as exc:
        if wants_json(request):
            return json_response({"error": "invalid",
                                  "errors": field_errors(exc.errors, request.get("locale", "zh"))}, status=400)
        raise
    except NotFound:
        return _error(request, 404, "not_found")
    except Forbidden:
        return _error(request, 403, "forbidden")
    except IllegalTransition as exc:
        return _error(request, 409, "conflict", {"detail": str(exc)})
    except web.HTTPRequestEntityTooLarge:
        return _error(request, 413, "too_large")
    except web.HTTPException as exc:
        if exc.status >= 400 and not exc.headers.get("Location"):
            code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 429: "too_many"}.get(exc.status)
            if code:
                response = _error(request, exc.status, code)
                for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                    if header in exc.headers:
                        response.headers[header] = exc.headers[header]
                return response
        raise
    except Exception as exc:
        if is_outage(exc):  # nothing was done; the pool reconnects by itself once the database is back
            log.warning("database unavailable", extra=log_fields(path=request.path, error=str(exc)[:200]))
            response = _error(request, 503, "unavailable")
            response.headers["Retry-After"] = "2"
            return response
        log.exception("unhandled error", extra=log_fields(path=request.path, method=request.method))
        return _error(request, 500, "internal")


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        metrics = request.app[METRICS]
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - start)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self' ws: wss:; frame-ancestors 'none'; form-action 'self'")
    token = request.get("set_csrf_cookie")
    if token:
        # aiohttp has already turned response.set_cookie() into headers when this hook runs
        # (StreamResponse._start), so the cookie is added as a header of its own
        cookie = SimpleCookie()
        cookie[csrf.COOKIE] = token
        cookie[csrf.COOKIE].update({"max-age": str(csrf.MAX_AGE_S), "httponly": True, "samesite": "Strict",
                                    "path": "/"})
        response.headers.add(hdrs.SET_COOKIE, cookie[csrf.COOKIE].output(header="")[1:])


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with services.db.read() as s:
            await s.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # the probe must answer, not raise
        db_ok = False
    body = {"status": "ok" if db_ok else "degraded", "database": db_ok, "bot": services.engine is not None}
    mail = request.app.get("mail_channel")  # channels.email.web.MAIL_CHANNEL, set when mail runs
    if mail is not None:
        body["mail"] = mail.health()  # {"mailbox": connected?, "smtpd": listening?}
    return json_response(body, status=200 if db_ok else 503)


async def metrics_view(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


TEMPLATES = Path(__file__).parent / "templates"


def create_app(services: Services) -> web.Application:
    settings = services.settings
    app = web.Application(client_max_size=settings.max_upload_bytes,
                          middlewares=[locale_middleware, metrics_middleware, error_middleware])
    app[SERVICES] = services
    app[METRICS] = Metrics()
    app[METRICS].watch_bot(services)
    app.on_response_prepare.append(_security_headers)

    from channels import portal, webchat  # the citizen portal is the website "channel"
    from .. import api

    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader([str(TEMPLATES), str(portal.TEMPLATES)]),
                               autoescape=jinja2.select_autoescape(["html"]),
                               context_processors=[_template_context])
    env.globals["csrf_field"] = csrf.FIELD
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_static("/static/", Path(__file__).parent / "static", name="static")
    api.setup(app)
    portal.setup(app)
    webchat.setup(app)
    from channels import desk  # the agents' desk at /desk (after webchat: it talks to the chats)
    desk.setup(app)
    return app


async def _template_context(request: web.Request) -> dict:
    locale = request.get("locale", "zh")
    return {"t": translator(locale), "locale": locale, "request": request,
            "other_locale": "en" if locale == "zh" else "zh"}
