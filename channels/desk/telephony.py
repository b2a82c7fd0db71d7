"""Telephony from the desk through Asterisk's manager interface (AMI, `ami_url`).

Click-to-call: Asterisk first rings the agent's own extension (the agent's 工号: PJSIP/<agent_no>);
when the agent answers, the call continues in the dialplan context DIAL_CONTEXT with the other
side's number as the extension, where the installation's dialplan dials it out, e.g.

    [hotline-desk-dial]
    exten => _X.,1,Dial(PJSIP/${EXTEN}@trunk,60)

Every call placed is an event in the case's history. Without `ami_url` the desk shows no call
buttons and the route answers 503.
"""
from __future__ import annotations

import logging
import re

from aiohttp import web

from cases.models import CaseEvent
from cases.workflow import Role
from hotline.i18n import translator
from hotline.web.app import SERVICES

from .auth import require_role

log = logging.getLogger("hotline.desk.phone")
DIAL_CONTEXT = "hotline-desk-dial"
PHONE = web.AppKey("desk_phone", object)
_DIALABLE = re.compile(r"^\+?\d{3,20}$")


def dialable(number: str) -> str | None:
    digits = re.sub(r"[\s-]", "", number or "")
    return digits if _DIALABLE.match(digits) else None


async def start_phone(app: web.Application) -> None:
    url = app[SERVICES].settings.ami_url
    if not url:
        return
    from channels.voice.ami import AmiClient, AmiConfig

    client = AmiClient(AmiConfig.from_url(url))
    client.start()
    app[PHONE] = client


async def stop_phone(app: web.Application) -> None:
    client = app.get(PHONE)
    if client is not None:
        client.close()


@require_role(Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
async def call(request: web.Request) -> web.Response:
    """Ring the agent, then the citizen or the case's department (form field `target`)."""
    from .casework import _case_for, _case_page

    case = await _case_for(request)
    form = await request.post()
    t = translator(request["locale"])
    client = request.app.get(PHONE)
    if client is None:
        raise web.HTTPServiceUnavailable(text="telephony needs ami_url")
    user = request["user"]
    target = form.get("target")
    number = dialable(case.contact_phone if target == "citizen" else
                      case.department.phone if target == "department" and case.department else "")
    if not user.agent_no or not number:
        return await _case_page(request, case, flash=t("desk.phone.cannot"), errors={"call": t("desk.phone.cannot")},
                                status=400)
    try:
        result = await client.originate(f"PJSIP/{user.agent_no}", DIAL_CONTEXT, number,
                                        caller_id=f"12345 <{number}>", variables={"HOTLINE_CASE": case.number})
    except Exception as exc:  # Asterisk down or refusing: the agent is told, nothing is recorded
        log.warning("click-to-call failed", extra={"fields": {"case": case.number, "error": str(exc)}})
        return await _case_page(request, case, flash=t("desk.phone.failed"), errors={"call": t("desk.phone.failed")},
                                status=502)
    async with request.app[SERVICES].db.write() as s:
        s.add(CaseEvent(case_id=case.id, actor=f"user:{user.username}", user_id=user.id, channel="phone_agent",
                        action="call", from_status=case.status, to_status=case.status, public=False,
                        data={"target": target, "extension": user.agent_no, "reason": result.get("Reason")}))
    return await _case_page(request, case, flash=t("desk.phone.placed"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/desk/cases/{number:\\d+}/call", call)
    app.on_startup.append(start_phone)
    app.on_cleanup.append(stop_phone)
