"""Who is asking: bearer tokens for the API (the desk's session cookies build on the same user)."""
from __future__ import annotations

from aiohttp import web

from cases.models import User
from cases.store import Actor
from cases.workflow import Role

from .keys import SERVICES


async def current_user(request: web.Request) -> User | None:
    if "user" not in request:
        user = None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            user = await request.app[SERVICES].accounts.user_for_token(header[7:].strip())
        request["user"] = user
    return request["user"]


async def require(request: web.Request, *roles: Role) -> Actor:
    """The signed-in actor, or 401 (not signed in) / 403 (role not allowed)."""
    user = await current_user(request)
    if user is None:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="hotline"'})
    if roles and Role(user.role) not in roles:
        raise web.HTTPForbidden()
    return Actor.for_user(user)
