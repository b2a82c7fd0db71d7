"""The REST API (JSON): citizens submit and look up; staff list, read and work cases.

The OpenAPI document at /api/openapi.json (hotline/openapi.py) describes every route here.
"""
from __future__ import annotations

import datetime as dt
import json

from aiohttp import web

from cases import case_links
from cases.intake import InvalidInput, local_datetime
from cases.public import public_view
from cases.similar import Probe
from cases.store import CaseFilter, Forbidden, NotFound
from cases.workflow import (ACTIONS, HOTLINE_ROLES, KIND_LABELS, STATUS_LABELS, Channel, Role,
                            allowed_actions, label)

from .openapi import openapi_document
from .web.auth import require
from .i18n import translator
from .web.citizen import citizen_input, guarded_lookup, install_limits, store_input
from .web.keys import SERVICES
from .web.responses import json_response

STAFF = tuple(Role)


async def read_json(request: web.Request) -> dict:
    """The body as a JSON object; 413 past the JSON size limit, 400 naming the problem otherwise."""
    limit = request.app[SERVICES].settings.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput({"body": ("json", {})}) from None
    if not isinstance(data, dict):
        raise InvalidInput({"body": ("not_object", {})})
    return data


def _iso(ts: dt.datetime | None) -> str | None:
    return ts.isoformat() if ts else None


# ---- citizens ----------------------------------------------------------------------------------
ON_DUPLICATE = ("file", "refuse")


async def create_case(request: web.Request) -> web.Response:
    """A citizen's case, or staff's intake (with a bearer token).

    A citizen proves no phone or email here: an open case of "theirs" about the same matter is never
    mentioned; the case is filed and flagged beside it for an agent (as on the portal). Staff are
    told the similar open cases (`similar`, best first) and choose: `on_duplicate` "file" (the
    default: filed all the same, as before) or "refuse" (409 with `similar` when the citizen has a
    likely duplicate, nothing stored), or `supplement_to` an open case's number (the intake is
    added to it as the citizen's information, nothing filed: the desk's 补充到此工单; 400 naming
    the field for an unknown or no longer open case)."""
    data = await read_json(request)
    services = request.app[SERVICES]
    if not request.headers.get("Authorization"):
        inp = await citizen_input(request, data, Channel.WEB)
        case, password = await store_input(request, inp)
        await case_links.flag_if_duplicate(services.store, case, inp)
        return _created(case, password)
    # staff may register cases from any channel (phone intake, letters, faxes)
    actor = await require(request, *HOTLINE_ROLES)
    try:
        channel = Channel(data.get("channel") or Channel.PHONE_AGENT.value)
    except ValueError:
        raise InvalidInput({"channel": ("choice", {})}) from None
    on_duplicate = data.get("on_duplicate") or "file"
    target = data.get("supplement_to")
    if on_duplicate not in ON_DUPLICATE:
        raise InvalidInput({"on_duplicate": ("choice", {})})
    if target is not None and not isinstance(target, str):
        raise InvalidInput({"supplement_to": ("not_text", {})})
    inp = await citizen_input(request, data, channel, allow_urgent=True)
    if target:
        try:
            case = await services.store.get_for(actor, target)
        except NotFound:
            raise InvalidInput({"supplement_to": ("unknown_case", {})}) from None
        if await case_links.add_intake_to(services.store, case, inp, by=actor.name.split(":", 1)[-1]) is None:
            raise InvalidInput({"supplement_to": ("closed_case", {})})
        case = await services.store.get(case.number)
        return json_response({"number": case.number, "status": case.status, "supplemented": True})
    similar = await services.store.similar.find(Probe.of_input(inp), limit=8)
    if on_duplicate == "refuse" and any(m.likely_duplicate for m in similar):
        return json_response({"error": "similar_open_case",
                              "message": translator(request["locale"])("errors.similar_open_case"),
                              "similar": [_similar_view(m) for m in similar]}, status=409)
    case, password = await store_input(request, inp, actor)
    return _created(case, password, similar=[_similar_view(m) for m in similar])


def _created(case, password: str, **more) -> web.Response:
    return json_response({"number": case.number, "password": password, "status": case.status,
                          "deadline": _iso(case.deadline), **more}, status=201,
                         headers={"Location": f"/api/cases/{case.number}"})


def _similar_view(match) -> dict:
    """A similar open case as staff see it in the answer to an intake (cases/similar.py's Match)."""
    case = match.case
    return {"number": case.number, "status": case.status, "kind": case.kind,
            "category": case.category.code if case.category else None, "title": case.title,
            "created_at": _iso(case.created_at), "score": match.score, "likely_duplicate": match.likely_duplicate,
            "reasons": match.reasons}


async def lookup_case(request: web.Request) -> web.Response:
    data = await read_json(request)
    number, password = data.get("number"), data.get("password")
    if not isinstance(number, (str, int)) or not isinstance(password, (str, int)):
        raise InvalidInput({k: ("required", {}) for k, v in (("number", number), ("password", password))
                            if not isinstance(v, (str, int))})
    found = await guarded_lookup(request, str(number), str(password))
    if found is None:  # the same answer whether the number is unknown or the password wrong
        raise web.HTTPNotFound()
    case, events = found
    services = request.app[SERVICES]
    return json_response(public_view(case, events, request["locale"], services.settings.timezone))


# ---- staff ------------------------------------------------------------------------------------
async def issue_token(request: web.Request) -> web.Response:
    data = await read_json(request)
    services = request.app[SERVICES]
    user = await services.accounts.authenticate(str(data.get("username", "")), str(data.get("password", "")))
    if user is None:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="hotline"'})
    token, expires = await services.accounts.issue_token(user)
    return json_response({"token": token, "expires_at": _iso(expires), "role": user.role}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    await require(request)
    await request.app[SERVICES].accounts.revoke_token(request.headers["Authorization"][7:].strip())
    return web.Response(status=204)


def staff_view(case, locale: str) -> dict:
    return {
        "number": case.number, "kind": case.kind, "kind_label": label(KIND_LABELS, case.kind, locale),
        "category": case.category.code if case.category else None,
        "title": case.title, "description": case.description, "location": case.location,
        "happened": case.happened, "contact_name": case.contact_name, "contact_phone": case.contact_phone,
        "contact_email": case.contact_email, "anonymous": case.anonymous, "wants_reply": case.wants_reply,
        "channel": case.channel, "urgency": case.urgency, "status": case.status,
        "status_label": label(STATUS_LABELS, case.status, locale),
        "department": case.department.code if case.department else None,
        "deadline": _iso(case.deadline), "reply": case.reply, "satisfaction": case.satisfaction,
        "created_at": _iso(case.created_at), "updated_at": _iso(case.updated_at),
    }


def _text(data: dict, name: str) -> str:
    """A text field of a JSON body: absent or null is empty; any other kind of value is refused."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput({name: ("not_text", {})})
    return value


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise InvalidInput({name: ("number", {})}) from None
    return max(lo, min(hi, value))


async def list_cases(request: web.Request) -> web.Response:
    actor = await require(request, *STAFF)
    q = request.query
    services = request.app[SERVICES]
    zone = services.settings.timezone
    f = CaseFilter(number=q.get("number", ""), phone=q.get("phone", ""), text=q.get("q", ""),
                   kinds=[k for k in q.getall("kind", []) if k], statuses=[s for s in q.getall("status", []) if s],
                   channel=q.get("channel", ""), category=q.get("category", ""),
                   created_from=local_datetime(q.get("from"), "from", zone),
                   created_to=local_datetime(q.get("to"), "to", zone, end_of_day=True),
                   overdue=q.get("overdue") in ("1", "true"))
    if q.get("department"):
        depts = {d.code: d.id for d in await services.store.departments()}
        if q["department"] not in depts:
            raise InvalidInput({"department": ("choice", {})})
        f.department_id = depts[q["department"]]
    if actor.role is Role.DEPARTMENT:
        f.department_id = actor.department_id  # a department sees its own cases only
    limit = _int_param(request, "limit", 50, 1, 200)
    offset = _int_param(request, "offset", 0, 0, 10**7)
    rows, total = await services.store.search(f, limit=limit, offset=offset)
    return json_response({"total": total, "limit": limit, "offset": offset,
                          "items": [staff_view(c, request["locale"]) for c in rows]})


async def get_case(request: web.Request) -> web.Response:
    actor = await require(request, *STAFF)
    store = request.app[SERVICES].store
    case = await store.get_for(actor, request.match_info["number"])
    events = await store.events(case.id)
    attachments = await store.attachments(case.id)
    view = staff_view(case, request["locale"])
    view["events"] = [{"at": _iso(e.at), "actor": e.actor, "channel": e.channel, "action": e.action,
                       "from_status": e.from_status, "to_status": e.to_status, "comment": e.comment,
                       "public": e.public, "data": e.data} for e in events]
    view["attachments"] = [{"id": a.id, "kind": a.kind, "filename": a.filename, "size": a.size,
                            "content_type": a.content_type, "sha256": a.sha256} for a in attachments]
    view["actions"] = [a.code for a in allowed_actions(case.status, actor.role)]
    return json_response(view)


async def apply_action(request: web.Request) -> web.Response:
    actor = await require(request, *STAFF)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    data = await read_json(request)
    store = request.app[SERVICES].store
    if action == "merge":  # it names its master: cases/case_links.py
        from cases import case_links
        await case_links.merge(store, request.match_info["number"], _text(data, "into"), actor,
                               comment=_text(data, "comment"))
        return json_response(staff_view(await store.get(request.match_info["number"]), request["locale"]))
    satisfaction = data.get("satisfaction")
    if satisfaction is not None and (not isinstance(satisfaction, int) or isinstance(satisfaction, bool)):
        raise InvalidInput({"satisfaction": ("choice", {})})
    case = await request.app[SERVICES].store.apply(
        request.match_info["number"], action, actor, channel=_text(data, "channel") or "web",
        comment=_text(data, "comment"), reply=_text(data, "reply"),
        department_code=_text(data, "department") or None,
        deadline=local_datetime(data.get("deadline"), "deadline", request.app[SERVICES].settings.timezone),
        satisfaction=satisfaction)
    return json_response(staff_view(case, request["locale"]))


async def me(request: web.Request) -> web.Response:
    actor = await require(request)
    return json_response({"username": actor.name.split(":", 1)[1], "role": actor.role.value,
                          "department_id": actor.department_id})


async def release_conversation(request: web.Request) -> web.Response:
    """An agent hands a paused conversation back to the bot."""
    await require(request, *HOTLINE_ROLES)
    engine = request.app[SERVICES].engine
    if engine is None:
        raise web.HTTPNotFound()
    await engine.resume(request.match_info["conversation"])
    return web.Response(status=204)


async def waiting_handoffs(request: web.Request) -> web.Response:
    await require(request, *HOTLINE_ROLES)
    from cases.conversations import ConversationLog
    rows = await ConversationLog(request.app[SERVICES].db).waiting()
    return json_response([{"conversation": h.conversation_id, "channel": h.channel, "reason": h.reason,
                           "requested_at": _iso(h.requested_at), "summary": h.summary,
                           "transcript": h.transcript} for h in rows])


# ---- reference data ---------------------------------------------------------------------------
async def categories(request: web.Request) -> web.Response:
    locale = request["locale"]
    rows = await request.app[SERVICES].store.categories()
    by_parent: dict = {}
    for c in rows:
        by_parent.setdefault(c.parent_id, []).append(c)

    def node(c):
        return {"code": c.code, "name": c.name_en if locale == "en" and c.name_en else c.name,
                "children": [node(x) for x in by_parent.get(c.id, [])]}
    return json_response([node(c) for c in by_parent.get(None, [])])


async def departments(request: web.Request) -> web.Response:
    locale = request["locale"]
    rows = await request.app[SERVICES].store.departments()
    return json_response([{"code": d.code, "name": d.name_en if locale == "en" and d.name_en else d.name}
                          for d in rows])


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def setup(app: web.Application) -> None:
    install_limits(app)
    r = app.router
    r.add_post("/api/cases", create_case)
    r.add_post("/api/cases/lookup", lookup_case)
    r.add_get("/api/cases", list_cases)
    r.add_get("/api/cases/{number:[0-9]+}", get_case)
    r.add_post("/api/cases/{number:[0-9]+}/actions/{action}", apply_action)
    r.add_post("/api/auth/token", issue_token)
    r.add_delete("/api/auth/token", revoke_token)
    r.add_get("/api/me", me)
    r.add_get("/api/handoffs", waiting_handoffs)
    r.add_post("/api/conversations/{conversation}/release", release_conversation)
    r.add_get("/api/reference/categories", categories)
    r.add_get("/api/reference/departments", departments)
    r.add_get("/api/openapi.json", openapi)


__all__ = ["setup", "read_json", "Forbidden"]
