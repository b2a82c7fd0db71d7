"""The held mail over the REST API, for agents: what the spam filter, a stranger's reply on a case
or an unusable mail put on hold, and releasing one (it is then processed as if it had passed:
spam and unusable mail become a case, a stranger's reply an event on its case).

  GET  /api/mail/held                 the held mails (id, sender, subject, reason, case number)
  POST /api/mail/held/{id}/release    release one; answers what became of it

Registered by `hotline.server.serve` when the mail channel runs (agents, supervisors, admins).
"""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from cases.models import Case
from cases.workflow import HOTLINE_ROLES
from hotline.web.auth import require

MAIL_CHANNEL = "mail_channel"


async def held_mail(request: web.Request) -> web.Response:
    await require(request, *HOTLINE_ROLES)
    channel = request.app[MAIL_CHANNEL]
    rows = await channel.ledger.held(limit=500)
    numbers = {}
    case_ids = {r.case_id for r in rows if r.case_id}
    if case_ids:
        async with channel.services.db.read() as s:
            numbers = dict((await s.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))).all())
    return web.json_response({"held": [
        {"id": r.id, "sender": r.sender, "subject": r.subject, "reason": r.reason, "size": r.size,
         "received_at": r.claimed_at.isoformat(), "case": numbers.get(r.case_id)} for r in rows]})


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
