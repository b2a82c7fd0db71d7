"""Departments' 延期 / 退回 requests and the hotline centre's decisions over the REST API (the desk's
审批 page and inbox do the same by form; both go through cases/approvals.py):

  GET  /api/requests                 pending requests, oldest first (supervisors and admins: all;
                                     a department handler: its own department's); ?case=<number>:
                                     every request of that case, decided or not
  GET  /api/requests/{id}            one request, decided or not (a handler: its department's only)
  POST /api/requests/{id}/approve    {"comment"?}: an extension moves the case's deadline, a return
                                     sends the case back to the hotline (supervisors, admins)
  POST /api/requests/{id}/refuse     {"comment"}: the reason is required and shown to the department

A department asks with the case action: POST /api/cases/{number}/actions/request_extend
({"deadline", "comment"}) or …/request_return ({"comment"}), once it has signed for the case.
Errors are the API's own: 400 naming the field in the request's language, 403, 404, 409.
"""
from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import select

from cases import approvals
from cases.intake import InvalidInput
from cases.models import Case, CaseRequest, User
from cases.store import Forbidden
from cases.workflow import CENTRE_ROLES, REQUEST_KINDS, IllegalTransition, Role, label
from hotline.api import read_json
from hotline.i18n import translator
from hotline.web.auth import require
from hotline.web.keys import SERVICES
from hotline.web.responses import json_response

VIEWERS = (Role.SUPERVISOR, Role.ADMIN, Role.DEPARTMENT)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def request_view(req: CaseRequest, number: str, names: dict[int, str], locale: str) -> dict:
    return {"id": req.id, "case": number, "kind": req.kind, "kind_label": label(REQUEST_KINDS, req.kind, locale),
            "deadline": _iso(req.deadline), "reason": req.reason,
            "requested_by": names.get(req.requested_by), "requested_at": _iso(req.requested_at),
            "decision": req.decision, "decided_by": names.get(req.decided_by), "decided_at": _iso(req.decided_at),
            "decision_comment": req.decision_comment or None}


async def _user_names(db, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    async with db.read() as s:
        return {uid: name for uid, name in (await s.execute(select(User.id, User.username).where(User.id.in_(ids))))}


async def _visible(request: web.Request, actor) -> tuple[CaseRequest, Case]:
    """The request the path names, as this actor may see it: 404 unknown, 403 another department's."""
    services = request.app[SERVICES]
    async with services.db.read() as s:
        found = (await s.execute(select(CaseRequest, Case).join(Case, Case.id == CaseRequest.case_id)
                                 .where(CaseRequest.id == int(request.match_info["id"])))).first()
    if found is None:
        raise web.HTTPNotFound()
    req, case = found
    services.store.check_permission(actor, case)
    return req, case


async def list_requests(request: web.Request) -> web.Response:
    actor = await require(request, *VIEWERS)
    services = request.app[SERVICES]
    number = request.query.get("case")
    if number:  # every request of one case, decided or not
        case = await services.store.get_for(actor, number)
        rows = await approvals.for_case(services.db, case.id)
        names = await _user_names(services.db, [i for r in rows for i in (r.requested_by, r.decided_by)])
        return json_response({"requests": [request_view(r, case.number, names, request["locale"]) for r in rows]})
    department = actor.department_id if actor.role is Role.DEPARTMENT else None
    rows = await approvals.pending(services.db, department_id=department)
    names = await _user_names(services.db, [p.request.requested_by for p in rows])
    return json_response({"requests": [
        {**request_view(p.request, p.number, names, request["locale"]), "case_title": p.title,
         "case_status": p.status, "case_deadline": _iso(p.deadline), "department": p.department}
        for p in rows]})


async def get_request(request: web.Request) -> web.Response:
    actor = await require(request, *VIEWERS)
    req, case = await _visible(request, actor)
    names = await _user_names(request.app[SERVICES].db, [req.requested_by, req.decided_by])
    return json_response(request_view(req, case.number, names, request["locale"]))


async def _decide(request: web.Request, approve: bool) -> web.Response:
    actor = await require(request, *CENTRE_ROLES)
    await _visible(request, actor)
    data = await read_json(request) if request.body_exists else {}  # approving needs no body
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidInput({"comment": ("not_text", {})})
    services = request.app[SERVICES]
    t = translator(request["locale"])
    try:
        req, case = await approvals.decide(services.store, int(request.match_info["id"]), approve, actor,
                                           comment or "", channel="api")
    except InvalidInput as exc:
        if "request" in exc.errors:  # decided meanwhile: a conflict, not a bad field
            return json_response({"error": "conflict", "message": t("errors.decided")}, status=409)
        raise
    except IllegalTransition:  # the case moved on (replied, returned) since the department asked
        return json_response({"error": "conflict", "message": t("desk.requests.stale")}, status=409)
    except Forbidden:
        raise web.HTTPForbidden()
    names = await _user_names(services.db, [req.requested_by, req.decided_by])
    return json_response({**request_view(req, case.number, names, request["locale"]),
                          "case_status": case.status, "case_deadline": _iso(case.deadline)})


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def refuse(request: web.Request) -> web.Response:
    return await _decide(request, False)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/requests", list_requests)
    r.add_get("/api/requests/{id:[0-9]{1,9}}", get_request)
    r.add_post("/api/requests/{id:[0-9]{1,9}}/approve", approve)
    r.add_post("/api/requests/{id:[0-9]{1,9}}/refuse", refuse)
