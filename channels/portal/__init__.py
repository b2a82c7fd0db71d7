"""The citizen portal (网站): submit a case, look it up, read the help. Server-rendered, no
JavaScript needed; every form carries a CSRF token and is validated on the server."""
from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from cases import case_links
from cases.intake import LIMITS, InvalidInput, clean_text
from cases.public import public_view
from cases.store import CITIZEN, ClosedCase
from cases.workflow import KIND_LABELS, SATISFACTION_LABELS, Channel, IllegalTransition, Kind, Status, label
from hotline.i18n import field_errors, translator
from hotline.web import csrf
from hotline.web.keys import SERVICES
from hotline.web.citizen import citizen_input, guarded_lookup, store_input

from .uploads import read_uploads

TEMPLATES = Path(__file__).parent / "templates"
FORM_FIELDS = ("kind", "category", "title", "description", "location", "happened", "contact_name",
               "contact_phone", "contact_email")
NO_STORE = {"Cache-Control": "no-store"}
RATABLE = (Status.REPLIED.value, Status.ANSWERED.value)  # a reply the citizen can rate
RATE_TOKEN_S = 3600  # how long a looked-up case page may send its rating


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
    """File the case. The phone and email typed in the form prove nothing (anyone can type a
    neighbour's), so an open case of "this citizen" about the same matter is never mentioned: the
    case is filed as any other and flagged beside that one for an agent to merge
    (case_links.flag_suspected). A citizen adding to their own case proves it with its number and
    password on the supplement page (补充材料), which the form points to."""
    form = await request.post()
    await _check_csrf(request, form)
    values = {name: form.get(name, "") for name in FORM_FIELDS}
    values["anonymous"] = form.get("anonymous") == "1"
    values["wants_reply"] = form.get("wants_reply") == "1"
    services = request.app[SERVICES]
    try:
        # the files are checked before anything is stored: a refused file leaves no case behind
        uploads = read_uploads(form, "attachments", services.store.attachment_max_bytes)
        inp = await citizen_input(request, values, Channel.WEB, require_phone=True)
    except InvalidInput as exc:
        return await _render_form(request, values, field_errors(exc.errors, request["locale"]), status=400)
    case, password = await store_input(request, inp)
    for u in uploads:
        await services.store.add_attachment(case.id, kind="citizen", filename=u.filename, content_type=u.content_type,
                                            data=u.data, actor=CITIZEN, channel=Channel.WEB.value)
    await case_links.flag_if_duplicate(services.store, case, inp)
    view = _own_view(case, [], request)
    # the password is on this page only: no browser or proxy may keep a copy
    return _no_store(aiohttp_jinja2.render_template("submitted.html", request, {
        "case": view, "password": password, "files": [u.filename for u in uploads]}))


def _own_view(case, events, request: web.Request) -> dict:
    """The public view plus what the citizen wrote themselves (shown to who holds the password)."""
    view = public_view(case, events, request["locale"], request.app[SERVICES].settings.timezone)
    view.update(description=case.description, location=case.location, happened=case.happened)
    return view


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
    case, events = found
    return _case_page(request, case, events)


def _rate_grant(secret: str, number: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"rate:{number}:{expires}".encode(), hashlib.sha256).hexdigest()


def rate_token(secret: str, number: str, now: float | None = None) -> str:
    """What the rating form carries instead of the password: proof that its holder looked the
    case up with the password within RATE_TOKEN_S (the password is shown once, never again)."""
    expires = int(now or time.time()) + RATE_TOKEN_S
    return f"{expires}.{_rate_grant(secret, number, expires)}"


def rate_token_ok(secret: str, number: str, token: str, now: float | None = None) -> bool:
    expires, _, mac = token.partition(".")
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(mac, _rate_grant(secret, number, int(expires)))


def _case_page(request: web.Request, case, events, *, flash: str | None = None,
               errors: dict | None = None, status: int = 200) -> web.Response:
    """The citizen's case; a replied one not yet rated carries the rating form (办理结果评价)."""
    locale = request["locale"]
    secret = request.app[SERVICES].settings.secret_key
    return _no_store(aiohttp_jinja2.render_template("case.html", request, {
        "case": _own_view(case, events, request), "csrf_token": _csrf_token(request), "flash": flash,
        "rate_token": rate_token(secret, case.number) if case.status in RATABLE else None, "errors": errors or {},
        "ratings": [(v, label(SATISFACTION_LABELS, v, locale)) for v in SATISFACTION_LABELS]}, status=status))


async def rate(request: web.Request) -> web.Response:
    """The citizen rates the reply to their own case, from the page the look-up showed: the case's
    outcome rating, recorded as the 回访 would record it."""
    form = await request.post()
    await _check_csrf(request, form)
    services, t = request.app[SERVICES], translator(request["locale"])
    number = "".join(str(form.get("number", "")).split())[:32]
    if not rate_token_ok(services.settings.secret_key, number, str(form.get("token", ""))):
        return aiohttp_jinja2.render_template("lookup.html", request, {  # look it up again
            "csrf_token": _csrf_token(request), "values": {"number": number}, "error": "portal.rate.expired"},
            status=403)
    case = await services.store.get(number)
    value = str(form.get("satisfaction", ""))
    try:
        case = await services.store.rate_outcome(case.id, int(value) if value.isdigit() else 0,
                                                 str(form.get("comment", "")), channel=Channel.WEB.value)
        flash, errors, status = t("portal.rate.done"), None, 200
    except InvalidInput as exc:
        flash, status = None, 400
        errors = {k: t("portal.rate.choose") if k == "satisfaction" else v
                  for k, v in field_errors(exc.errors, request["locale"]).items()}
    except IllegalTransition:  # not replied yet, or rated (or called back) already
        flash, errors, status = t("portal.rate.not_now"), None, 409
    events = await services.store.events(case.id, public_only=True)
    return _case_page(request, case, events, flash=flash, errors=errors, status=status)


# ---- adding information to one's own case (补充材料) ---------------------------------------------------
async def supplement_form(request: web.Request) -> web.Response:
    number = "".join(str(request.query.get("number", "")).split())[:32]
    return aiohttp_jinja2.render_template("supplement.html", request, {
        "csrf_token": _csrf_token(request), "values": {"number": number}, "errors": {}, "limits": LIMITS})


async def supplement(request: web.Request) -> web.Response:
    """More words and files for an open case, by its number and password (rate-limited like the
    look-up); kept as the citizen's public event on the case, files in the attachment store."""
    form = await request.post()
    await _check_csrf(request, form)
    services, locale = request.app[SERVICES], request["locale"]
    number = "".join(str(form.get("number", "")).split())[:32]
    password = str(form.get("password", "")).strip()[:32]
    text = clean_text(str(form.get("text", "")), multiline=True)
    values = {"number": number, "text": text}

    def again(errors: dict, status: int = 400) -> web.Response:
        return aiohttp_jinja2.render_template("supplement.html", request, {
            "csrf_token": _csrf_token(request), "values": values, "errors": errors, "limits": LIMITS}, status=status)

    t = translator(locale)
    errors = {}
    if not number or not password:
        errors["number"] = t("portal.lookup.missing")
    if len(text) > LIMITS["description"]:
        errors["text"] = t("errors.too_long", field=t("portal.supplement.text"), max=LIMITS["description"])
    try:
        uploads = read_uploads(form, "attachments", services.store.attachment_max_bytes)
    except InvalidInput as exc:
        errors.update(field_errors(exc.errors, locale))
        uploads = []
    if not text and not uploads and "text" not in errors:
        errors["text"] = t("portal.supplement.nothing")
    if errors:
        return again(errors)
    try:
        found = await guarded_lookup(request, number, password)
    except web.HTTPTooManyRequests:
        return again({"number": t("portal.lookup.too_many")}, status=429)
    if found is None:
        return again({"number": t("portal.lookup.not_found")}, status=404)
    case, _ = found
    try:
        await services.store.add_citizen_information(case.id, text, channel=Channel.WEB.value)
    except ClosedCase:
        master = next((link.case.number for link in await case_links.linked(services.store, case)
                       if link.kind == case_links.MERGED), None)
        return again({"text": t("portal.supplement.merged", number=master) if master else t("portal.supplement.closed")},
                     status=409)
    for u in uploads:
        await services.store.add_attachment(case.id, kind="citizen", filename=u.filename, content_type=u.content_type,
                                            data=u.data, actor=CITIZEN, channel=Channel.WEB.value)
    events = await services.store.events(case.id, public_only=True)
    return _case_page(request, case, events, flash=t("portal.supplement.done"))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/submit", submit_form, name="submit")
    r.add_post("/submit", submit)
    r.add_get("/lookup", lookup_form, name="lookup")
    r.add_post("/lookup", lookup)
    r.add_get("/help", help_page, name="help")
    r.add_get("/supplement", supplement_form, name="supplement")
    r.add_post("/supplement", supplement)
    r.add_post("/rate", rate)
