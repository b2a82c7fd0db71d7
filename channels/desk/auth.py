"""Desk sign-in: session cookies, roles and CSRF for every desk handler.

A desk session is an `ApiToken` row (cases/accounts.py): the cookie carries the random token, the
database keeps only its SHA-256, so signing out (or disabling the user) ends the session at once
and a stolen database yields no usable cookie.

Use on any desk handler (other modules, e.g. channels/desk/reports.py, too):

    @require_role(Role.SUPERVISOR, Role.ADMIN)
    async def handler(request):
        user = request["user"]          # cases.models.User
        ...

Not signed in: a redirect to /desk/login (JSON paths under /desk/api/ get 401 instead).
Signed in with another role: 403. No roles given: any signed-in staff member.
Every unsafe method (POST, PUT, PATCH, DELETE) must carry the CSRF token, as the form field
`csrf_token` or the `X-CSRF-Token` header; otherwise 400 and nothing happens.
Templates get the token as `request["csrf_token"]` (the desk's base template puts it in forms).
"""
from __future__ import annotations

import functools
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from cases.models import User
from cases.store import Actor
from cases.workflow import Role
from hotline.web import csrf
from hotline.web.keys import SERVICES

SESSION_COOKIE = "hotline_desk"
LOGIN_PATH = "/desk/login"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def session_user(request: web.Request) -> User | None:
    """The signed-in user of this request (looked up once), or None."""
    if "desk_user" not in request:
        token = request.cookies.get(SESSION_COOKIE)
        user = None
        if token and len(token) < 200:
            user = await request.app[SERVICES].accounts.user_for_token(token)
        request["desk_user"] = user
    return request["desk_user"]


def csrf_token(request: web.Request) -> str:
    if "csrf_token" not in request:
        request["csrf_token"] = csrf.token_for(request, request.app[SERVICES].settings.secret_key)
    return request["csrf_token"]


async def check_csrf(request: web.Request) -> None:
    """400 unless the request carries the cookie's CSRF token (form field or header)."""
    sent = request.headers.get("X-CSRF-Token")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = (await request.post()).get(csrf.FIELD)  # aiohttp keeps the parsed form for the handler
    secret = request.app[SERVICES].settings.secret_key
    if not csrf.is_valid(secret, request.cookies.get(csrf.COOKIE), sent if isinstance(sent, str) else None):
        raise web.HTTPBadRequest(text="CSRF token missing or invalid")


def _to_login(request: web.Request) -> web.HTTPException:
    if request.path.startswith("/desk/api/") or request.path.startswith("/desk/ws"):
        return web.HTTPUnauthorized()
    target = request.path_qs if request.method == "GET" else "/desk"
    return web.HTTPFound(f"{LOGIN_PATH}?next={quote(target, safe='')}")


def require_role(*roles: Role) -> Callable[[Handler], Handler]:
    """Decorator: signed-in user with one of `roles` (any staff role when none are given)."""
    allowed = frozenset(Role(r) for r in roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await session_user(request)
            if user is None:
                raise _to_login(request)
            if allowed and Role(user.role) not in allowed:
                raise web.HTTPForbidden()
            if request.method in UNSAFE:
                await check_csrf(request)
            request["user"] = user
            request["actor"] = Actor.for_user(user)
            csrf_token(request)
            return await handler(request)

        wrapper.desk_roles = allowed  # type: ignore[attr-defined]  (read by tests and the nav)
        return wrapper

    return decorate


def is_secure(request: web.Request) -> bool:
    return request.secure or request.app[SERVICES].settings.base_url.startswith("https://")


def set_session(response: web.StreamResponse, request: web.Request, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="Lax",
                        secure=is_secure(request), path="/")


def clear_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
