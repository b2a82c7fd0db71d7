"""What every desk page shares: the navigation by role, the template context, sign-in and out."""
from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from cases.workflow import Role
from channels.email.web import MAIL_CHANNEL
from hotline.web import csrf
from hotline.web.keys import SERVICES

from .auth import LOGIN_PATH, clear_session, csrf_token, check_csrf, session_user, set_session

A, S, D, ADM = Role.AGENT, Role.SUPERVISOR, Role.DEPARTMENT, Role.ADMIN
# (key, href, roles): what each role finds in the navigation
NAV = [
    ("inbox", "/desk/inbox", {D}),  # a department handler lands on its inbox
    ("live", "/desk/live", {A, S, ADM}),
    ("intake", "/desk/intake", {A, S, ADM}),
    ("cases", "/desk/cases", {A, S, D, ADM}),
    ("followup", "/desk/followup", {A, S, ADM}),
    ("reminders", "/desk/reminders", {A, S, D, ADM}),
    ("approvals", "/desk/approvals", {S, ADM}),  # departments' 延期 / 退回 requests
    ("canned", "/desk/canned", {A, S, ADM}),
    ("mail", "/desk/mail", {A, S, ADM}),  # held mail (mailhold.py), when the mail channel runs
    ("reports", "/desk/reports", {S, ADM}),
    ("admin", "/desk/admin", {ADM}),
]
HAS_REPORTS = web.AppKey("desk_has_reports", bool)
LOGIN_LIMIT = web.AppKey("desk_login_limit", tuple)  # (per client, per user name)


def nav_for(request: web.Request, user) -> list[dict]:
    if user is None:
        return []
    from hotline.i18n import translator

    t = translator(request.get("locale", "zh"))
    role = Role(user.role)
    return [{"key": key, "href": href, "label": t(f"desk.nav.{key}")} for key, href, roles in NAV
            if role in roles and (key != "reports" or request.app.get(HAS_REPORTS))
            and (key != "mail" or MAIL_CHANNEL in request.app)]


async def desk_context(request: web.Request) -> dict:
    """Template context for desk pages (report pages included), added before the handler runs."""
    if not request.path.startswith("/desk") or request.path.startswith("/desk/static/"):
        return {}
    user = await session_user(request)
    return {"user": user, "nav": nav_for(request, user), "csrf_token": csrf_token(request)}


@jinja2.pass_context
def csrf_input(context) -> Markup:
    return Markup(f'<input type="hidden" name="{csrf.FIELD}" value="{escape(context.get("csrf_token", ""))}">')


def render(request: web.Request, template: str, context: dict, status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"  # staff pages hold personal data
    return response


# ---- sign-in ------------------------------------------------------------------------------------
def _safe_next(value: str | None) -> str:
    value = value or "/desk"
    return value if value.startswith("/desk") and not value.startswith("//") else "/desk"


async def login_form(request: web.Request) -> web.Response:
    return render(request, "desk_login.html", {"next": _safe_next(request.query.get("next")), "username": "",
                                               "error": None, "user": None})


async def login(request: web.Request) -> web.Response:
    await check_csrf(request)
    form = await request.post()
    services = request.app[SERVICES]
    username = str(form.get("username", ""))[:64]
    from hotline.i18n import translator

    t = translator(request["locale"])
    # failed attempts per client address and per name are limited (password guessing)
    per_client, per_user = request.app[LOGIN_LIMIT]
    if await per_client.hit(request.remote or "-") or await per_user.hit(username):
        return render(request, "desk_login.html", {"next": _safe_next(form.get("next")), "username": username,
                                                   "error": t("desk.login.too_many"), "user": None}, status=429)
    user = await services.accounts.authenticate(username, str(form.get("password", "")))
    if user is None:
        return render(request, "desk_login.html", {"next": _safe_next(form.get("next")), "username": username,
                                                   "error": t("desk.login.failed"), "user": None}, status=401)
    token, _expires = await services.accounts.issue_token(user)
    response = web.HTTPFound(_safe_next(form.get("next")))
    set_session(response, request, token, services.settings.api_token_ttl_s)
    return response


async def logout(request: web.Request) -> web.Response:
    await check_csrf(request)
    from .auth import SESSION_COOKIE

    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[SERVICES].accounts.revoke_token(token)
    response = web.HTTPFound(LOGIN_PATH)
    clear_session(response)
    return response


async def home(request: web.Request) -> web.Response:
    user = await session_user(request)
    if user is None:
        raise web.HTTPFound(LOGIN_PATH)
    first = nav_for(request, user)
    raise web.HTTPFound(first[0]["href"] if first else LOGIN_PATH)
