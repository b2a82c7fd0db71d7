"""Scheduled callbacks and poll calls over the REST API (the desk's case page does the same by form):

  GET    /api/cases/{number}/calls         the case's scheduled calls, newest first, with their tries
  POST   /api/cases/{number}/calls         schedule one: {"kind": "callback" | "poll_call",
                                           "due_at": ISO 8601 (no offset = the hotline's time zone),
                                           "poll": <active poll id, poll calls>, "note": "..."}
  DELETE /api/cases/{number}/calls/{id}    cancel one that has not been answered yet

A callback rings the signed-in user's own extension (their 工号) first, then the citizen; a poll
call connects the citizen to the bot on the voice channel, which runs the poll. Both are placed by
the reminder scheduler with AMI Originate (channels/desk/telephony.py `place_scheduled`) and
retried as the settings say. Agents, supervisors and admins; 503 without `ami_url`.
"""
from __future__ import annotations

from aiohttp import web

from cases import scheduled_calls
from cases.workflow import HOTLINE_ROLES
from hotline.api import read_json
from hotline.i18n import translator
from hotline.web.keys import SERVICES
from hotline.web.responses import json_response
from hotline.web.auth import current_user, require

from .telephony import CallRefused, due_at, plan_call


def call_view(plan: scheduled_calls.PlannedCall) -> dict:
    return {"id": plan.reminder_id, "case": plan.case_number, "kind": plan.kind, "number": plan.number,
            "due_at": plan.due_at.isoformat() if plan.due_at else None, "agent_no": plan.agent_no or None,
            "poll": plan.poll_id, "max_attempts": plan.max_attempts, "done": plan.done,
            "attempts": [{"attempt": a.get("attempt"), "result": a.get("result"), "linkedid": a.get("linkedid")}
                         for a in plan.attempts]}


async def _case(request: web.Request):
    actor = await require(request, *HOTLINE_ROLES)
    return await request.app[SERVICES].store.get_for(actor, request.match_info["number"])


async def list_calls(request: web.Request) -> web.Response:
    case = await _case(request)
    plans = await scheduled_calls.for_case(request.app[SERVICES].db, case.id)
    return json_response({"calls": [call_view(p) for p in plans]})


async def create_call(request: web.Request) -> web.Response:
    case = await _case(request)
    data = await read_json(request)
    services = request.app[SERVICES]
    poll = data.get("poll")
    note = data.get("note")
    try:
        if poll is not None and (isinstance(poll, bool) or not isinstance(poll, int)):
            raise CallRefused("poll", "desk.phone.choose_poll")
        if note is not None and not isinstance(note, str):
            raise CallRefused("note", "desk.case.not_done")
        reminder = await plan_call(request.app, case, await current_user(request), kind=str(data.get("kind") or ""),
                                   due=due_at(request, data.get("due_at")), poll_id=poll,
                                   note=note or "")
    except CallRefused as exc:
        t = translator(request["locale"])
        return json_response({"error": "invalid", "errors": {exc.field: t(exc.key)}}, status=400)
    plan = await scheduled_calls.load(services.db, reminder.id)
    return json_response(call_view(plan), status=201,
                         headers={"Location": f"/api/cases/{case.number}/calls/{reminder.id}"})


async def cancel_call(request: web.Request) -> web.Response:
    case = await _case(request)
    user = await current_user(request)
    done = await scheduled_calls.cancel(request.app[SERVICES].db, int(request.match_info["id"]), case,
                                        user_id=user.id, actor=f"user:{user.username}")
    if not done:
        raise web.HTTPNotFound()
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/cases/{number:[0-9]+}/calls", list_calls)
    r.add_post("/api/cases/{number:[0-9]+}/calls", create_call)
    r.add_delete("/api/cases/{number:[0-9]+}/calls/{id:[0-9]+}", cancel_call)
