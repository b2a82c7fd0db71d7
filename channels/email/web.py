"""The held mail over the REST API, for agents: what the spam filter, a stranger's reply on a case
or an unusable mail put on hold, and releasing one (it is then processed as if it had passed:
spam and unusable mail become a case, a stranger's reply an event on its case).

  GET  /api/mail/held                 the held mails (id, sender, subject, reason, case number)
  POST /api/mail/held/{id}/release    release one; answers what became of it

Registered by `hotline.server.serve` when the mail channel runs (agents, supervisors, admins). The
desk's screen for the same (channels/desk/mailhold.py) finds the channel under MAIL_CHANNEL too.
"""
from __future__ import annotations

from aiohttp import web
from cases.workflow import HOTLINE_ROLES
from hotline.web.auth import require

MAIL_CHANNEL = "mail_channel"


async def held_mail(request: web.Request) -> web.Response:
    await require(request, *HOTLINE_ROLES)
    rows = await request.app[MAIL_CHANNEL].held()
    return web.json_response({"held": [
        {"id": r["id"], "sender": r["sender"], "subject": r["subject"], "reason": r["reason"], "size": r["size"],
         "received_at": r["received_at"].isoformat(), "case": r["case"]} for r in rows]})


async def release_mail(request: web.Request) -> web.Response:
    actor = await require(request, *HOTLINE_ROLES)
    try:
        mail_id = int(request.match_info["id"])
        outcome = await request.app[MAIL_CHANNEL].release(mail_id, actor.name)
    except (ValueError, LookupError):
        raise web.HTTPNotFound(text='{"error": "no such held mail"}', content_type="application/json")
    return web.json_response({"state": outcome.state, "reason": outcome.reason, "case": outcome.case_number})


def setup_routes(app: web.Application, channel) -> None:
    app[MAIL_CHANNEL] = channel
    app.router.add_get("/api/mail/held", held_mail)
    app.router.add_post("/api/mail/held/{id}/release", release_mail)
