"""The citizen portal (网站): submit a case, look it up, read the help. Server-rendered, no
JavaScript needed; every form carries a CSRF token and is validated on the server."""
from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from cases.intake import LIMITS, InvalidInput
from cases.public import public_view
from cases.workflow import KIND_LABELS, Channel, Kind, label
from hotline.i18n import field_errors
from hotline.web import csrf
from hotline.web.keys import SERVICES
from hotline.web.citizen import guarded_lookup, submit_case

TEMPLATES = Path(__file__).parent / "templates"
FORM_FIELDS = ("kind", "category", "title", "description", "location", "happened", "contact_name",
               "contact_phone", "contact_email")
NO_STORE = {"Cache-Control": "no-store"}


async def _check_csrf(request: web.Request, form) -> None:
    secret = request.app[SERVICES].settings.secret_key
    if not csrf.is_valid(secret, request.cookies.get(csrf.COOKIE), form.get(csrf.FIELD)):
        raise web.HTTPBadRequest()


def _csrf_token(request: web.Request) -> str:
    return csrf.token_for(request, request.app[SERVICES].settings.secret_key)


async def _category_groups(request: web.Request) -> list[dict]:
    locale = request["locale"]
    rows = await request.app[SERVICES].store.categories()
    name = (lambda c: c.name_en or c.name) if locale == "en" else (lambda c: c.name)
    groups = [{"code": c.code, "name": name(c), "children": []} for c in rows if c.parent_id is None]
    by_id = {c.id: g for c, g in zip([c for c in rows if c.parent_id is None], groups)}
    for c in rows:
        if c.parent_id in by_id:
            by_id[c.parent_id]["children"].append({"code": c.code, "name": name(c)})
    return groups


async def _render_form(request: web.Request, values: dict, errors: dict, status: int = 200) -> web.Response:
    locale = request["locale"]
    context = {
        "values": values, "errors": errors, "csrf_token": _csrf_token(request), "limits": LIMITS,
        "kinds": [(k.value, label(KIND_LABELS, k, locale)) for k in Kind],
        "categories": await _category_groups(request),
    }
    return aiohttp_jinja2.render_template("submit.html", request, context, status=status)


async def home(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("home.html", request, {})


async def help_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("help.html", request, {})


async def submit_form(request: web.Request) -> web.Response:
    values = {"wants_reply": True}
    if request.query.get("kind") in {k.value for k in Kind}:
        values["kind"] = request.query["kind"]
    return await _render_form(request, values, {})


async def submit(request: web.Request) -> web.Response:
    form = await request.post()
    await _check_csrf(request, form)
    values = {name: form.get(name, "") for name in FORM_FIELDS}
    values["anonymous"] = form.get("anonymous") == "1"
    values["wants_reply"] = form.get("wants_reply") == "1"
    try:
        case, password = await submit_case(request, values, Channel.WEB)
    except InvalidInput as exc:
        return await _render_form(request, values, field_errors(exc.errors, request["locale"]), status=400)
    view = public_view(case, [], request["locale"], request.app[SERVICES].settings.timezone)
    # the password is on this page only: no browser or proxy may keep a copy
    return _no_store(aiohttp_jinja2.render_template("submitted.html", request,
                                                    {"case": view, "password": password}))


def _no_store(response: web.Response) -> web.Response:
    response.headers.update(NO_STORE)
    return response


async def lookup_form(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("lookup.html", request,
                                          {"csrf_token": _csrf_token(request), "values": {}, "error": None})


async def lookup(request: web.Request) -> web.Response:
    form = await request.post()
    await _check_csrf(request, form)
    number = "".join(str(form.get("number", "")).split())
    password = str(form.get("password", "")).strip()
    t_error = None
    found = None
    if not number or not password:
        t_error = "portal.lookup.missing"
    else:
        try:
            found = await guarded_lookup(request, number, password)
        except web.HTTPTooManyRequests as exc:
            response = aiohttp_jinja2.render_template(
                "lookup.html", request, {"csrf_token": _csrf_token(request), "values": {"number": number},
                                         "error": "portal.lookup.too_many"}, status=429)
            response.headers["Retry-After"] = exc.headers["Retry-After"]
            return response
        if found is None:
            t_error = "portal.lookup.not_found"
    if t_error:
        return aiohttp_jinja2.render_template(
            "lookup.html", request, {"csrf_token": _csrf_token(request), "values": {"number": number},
                                     "error": t_error}, status=400 if t_error.endswith("missing") else 404)
    services = request.app[SERVICES]
    case, events = found
    view = public_view(case, events, request["locale"], services.settings.timezone)
    return _no_store(aiohttp_jinja2.render_template("case.html", request, {"case": view}))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/submit", submit_form, name="submit")
    r.add_post("/submit", submit)
    r.add_get("/lookup", lookup_form, name="lookup")
    r.add_post("/lookup", lookup)
    r.add_get("/help", help_page, name="help")
