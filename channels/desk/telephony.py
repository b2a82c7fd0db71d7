"""Telephony from the desk through Asterisk's manager interface (AMI, `ami_url`).

- Click-to-call: Asterisk first rings the agent's own extension (the agent's 工号: PJSIP/<agent_no>);
  when the agent answers, the call continues in the dialplan context DIAL_CONTEXT with the other
  side's number as the extension, where the installation's dialplan records it and dials it out
  (deploy/asterisk/extensions.conf, [hotline-desk-dial]).
- Three-way call (三方通话): from the agent's live call, a department's duty phone is brought in
  (channels/voice/conference.py: both legs move into a ConfBridge, the duty phone is dialled into it).
- Scheduled calls: a callback (the agent's phone, then the citizen, like click-to-call) or a poll
  call (the citizen and the bot with the chosen poll, through the voice channel) at a chosen time,
  kept and retried by cases/scheduled_calls.py on the reminder scheduler.
- Recordings: Asterisk's MixMonitor files under `recordings_dir`, found from the call ids (linkedid)
  that the case's call events hold (channels/voice/recordings.py), played with HTTP Range.
Every call placed is an event in the case's history. Without `ami_url` the desk shows no call
buttons and the call routes answer 503.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

from aiohttp import web
from sqlalchemy import select

from cases import scheduled_calls
from cases.intake import InvalidInput, clean_text
from cases.models import Case, CaseEvent, Department, Poll, utcnow
from cases.workflow import Role
from channels.voice.ami import DialWatch, originate_outcome
from channels.voice.conference import NoLiveCall, add_third_party, live_call
from channels.voice.recordings import BadRecording, recording_for
from hotline.i18n import translator
from hotline.web.keys import SERVICES

from .auth import require_role

log = logging.getLogger("hotline.desk.phone")
DIAL_CONTEXT = "hotline-desk-dial"
PHONE = web.AppKey("desk_phone", object)
TASKS = web.AppKey("desk_phone_tasks", set)
_DIALABLE = re.compile(r"^\+?\d{3,20}$")
HOTLINE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
CITIZEN_DIAL_S = 75.0  # the sample dialplan lets the citizen's phone ring 60 s
# events whose data may name a call (linkedid) that has a recording
CALL_EVENTS = ("call", "threeway", "call_link", "call_attempt", "transfer")


def dialable(number: str) -> str | None:
    digits = re.sub(r"[\s-]", "", number or "")
    return digits if _DIALABLE.match(digits) else None


async def start_phone(app: web.Application) -> None:
    app[TASKS] = set()
    url = app[SERVICES].settings.ami_url
    if not url:
        return
    voice = getattr(app[SERVICES], "voice", None)
    if voice is not None and voice.ami is not None:  # one AMI login per gateway: the voice line's
        app[PHONE] = voice.ami
        return
    from channels.voice.ami import AmiClient, AmiConfig

    client = AmiClient(AmiConfig.from_url(url))
    client.start()
    client.owned_by_desk = True
    app[PHONE] = client


async def stop_phone(app: web.Application) -> None:
    from .casework import REMINDERS

    if REMINDERS in app:  # scheduled calls in flight stop before their AMI connection (claims expire)
        await app[REMINDERS].stop()
    tasks = list(app.get(TASKS, ()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    client = app.get(PHONE)
    if client is not None and getattr(client, "owned_by_desk", False):  # the voice line closes its own
        client.close()


def _background(app: web.Application, coro) -> asyncio.Task:
    task = asyncio.create_task(coro)
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)
    return task


async def _event(app: web.Application, case: Case, action: str, data: dict, *, user=None) -> None:
    async with app[SERVICES].db.write() as s:
        s.add(CaseEvent(case_id=case.id, actor=f"user:{user.username}" if user else "system",
                        user_id=user.id if user else None, channel="phone_agent", action=action,
                        from_status=case.status, to_status=case.status, public=False, data=data))


async def _tell(app: web.Application, user_id: int | None, case_number: str, text: str) -> None:
    """A pop-up on the agent's desk (the desk bus's notice frame)."""
    from .live import LIVE

    if LIVE in app:
        await app[LIVE].publish({"t": "reminder", "case": case_number, "text": text, "user_id": user_id})


# ---- the case page's telephony panel ---------------------------------------------------------------
async def duty_departments(app: web.Application) -> list[Department]:
    async with app[SERVICES].db.read() as s:
        rows = (await s.execute(select(Department).where(Department.active.is_(True))
                                .order_by(Department.id))).scalars().all()
    return [d for d in rows if dialable(d.phone)]


async def active_polls(app: web.Application) -> list[Poll]:
    async with app[SERVICES].db.read() as s:
        return list((await s.execute(select(Poll).where(Poll.active.is_(True)).order_by(Poll.id))).scalars())


def linked_calls(events) -> list[tuple[str, object]]:
    """(linkedid, when) of the calls the case's events name, oldest first, each once."""
    seen, out = set(), []
    for e in events:
        lid = (e.data or {}).get("linkedid") if e.action in CALL_EVENTS else None
        if lid and lid not in seen:
            seen.add(lid)
            out.append((lid, e.at))
    return out


async def case_context(request: web.Request, case: Case, events) -> dict:
    """What the case page's telephony panel (desk_case_phone.html) shows."""
    app = request.app
    user = request["user"]
    hotline = Role(user.role) in HOTLINE_ROLES
    phone = PHONE in app and hotline
    root = app[SERVICES].settings.recordings_dir
    recordings = []
    for lid, at in linked_calls(events):
        try:
            if recording_for(root, lid) is not None:
                recordings.append({"linkedid": lid, "at": at})
        except BadRecording:
            continue
    from .transfers import transfer_context

    return {
        **await transfer_context(app, user, case),
        "can_call": phone and bool(user.agent_no),
        "can_schedule": phone,
        "duty_departments": await duty_departments(app) if phone and user.agent_no else [],
        "polls": await active_polls(app) if phone else [],
        "planned_calls": await scheduled_calls.for_case(app[SERVICES].db, case.id) if hotline else [],
        "call_recordings": recordings,
        "voice_on": getattr(app[SERVICES], "voice", None) is not None,
    }


def _page(request, case, **kw):
    from .casework import _case_page
    return _case_page(request, case, **kw)


def _client_or_503(request: web.Request):
    client = request.app.get(PHONE)
    if client is None:
        raise web.HTTPServiceUnavailable(text="telephony needs ami_url")
    return client


async def _prelude(request: web.Request):
    """The case (permission-checked), the form, the translator, the AMI client (or 503), the user."""
    from .casework import _case_for

    case = await _case_for(request)
    form = await request.post()
    return case, form, translator(request["locale"]), _client_or_503(request), request["user"]


async def _live_call_or_page(request: web.Request, case: Case, client, agent_no: str):
    """The agent's live call, or the case page saying why there is none (409) or AMI failed (502)."""
    t = translator(request["locale"])
    try:
        return await live_call(client, agent_no), None
    except NoLiveCall:
        msg, status = t("desk.phone.no_live_call"), 409
    except Exception as exc:
        log.warning("live call not read", extra={"fields": {"case": case.number, "error": str(exc)}})
        msg, status = t("desk.phone.failed"), 502
    return None, await _page(request, case, flash=msg, errors={"threeway": msg}, status=status)


# ---- click-to-call ---------------------------------------------------------------------------------
@require_role(*HOTLINE_ROLES)
async def call(request: web.Request) -> web.Response:
    """Ring the agent, then the citizen or the case's department (form field `target`)."""
    case, form, t, client, user = await _prelude(request)
    target = form.get("target")
    number = dialable(case.contact_phone if target == "citizen" else
                      case.department.phone if target == "department" and case.department else "")
    if not user.agent_no or not number:
        return await _page(request, case, flash=t("desk.phone.cannot"), errors={"call": t("desk.phone.cannot")},
                           status=400)
    try:
        result = await client.originate(f"PJSIP/{user.agent_no}", DIAL_CONTEXT, number,
                                        caller_id=f"12345 <{number}>", variables={"HOTLINE_CASE": case.number})
    except Exception as exc:  # Asterisk down or refusing: the agent is told, nothing is recorded
        log.warning("click-to-call failed", extra={"fields": {"case": case.number, "error": str(exc)}})
        return await _page(request, case, flash=t("desk.phone.failed"), errors={"call": t("desk.phone.failed")},
                           status=502)
    outcome = originate_outcome(result)
    data = {"target": target, "extension": user.agent_no, "reason": result.get("Reason"), "result": outcome}
    if outcome == "answered" and result.get("Uniqueid", "<null>") != "<null>":
        data["linkedid"] = result["Uniqueid"]  # the agent's channel starts the call: its id is the call's
    await _event(request.app, case, "call", data, user=user)
    return await _page(request, case, flash=t("desk.phone.placed") if outcome == "answered"
                       else t("desk.phone.not_answered", result=t(f"desk.phone.result_{outcome}")))


# ---- three-way call (三方通话) --------------------------------------------------------------------
@require_role(*HOTLINE_ROLES)
async def threeway(request: web.Request) -> web.Response:
    """Bring a department's duty phone (form field `department`, a code) into the agent's live call."""
    case, form, t, client, user = await _prelude(request)
    code = str(form.get("department", ""))
    dept = next((d for d in await duty_departments(request.app) if d.code == code), None)
    if dept is None or not user.agent_no:
        msg = t("desk.phone.threeway_no_department") if user.agent_no else t("desk.phone.cannot")
        return await _page(request, case, flash=msg, errors={"threeway": msg}, status=400)
    number = dialable(dept.phone)
    live, refused = await _live_call_or_page(request, case, client, user.agent_no)
    if refused is not None:
        return refused

    async def conference_and_dial():
        try:
            result = await add_third_party(client, live, number, variables={"HOTLINE_CASE": case.number})
            outcome = originate_outcome(result)
        except Exception as exc:  # the legs could not be moved, or the duty phone not dialled
            log.warning("three-way failed", extra={"fields": {"case": case.number, "error": str(exc)}})
            outcome = "error"
        await _event(request.app, case, "threeway", {"department": dept.code, "linkedid": live.linkedid,
                                                     "bridge": live.bridge, "result": outcome}, user=user)
        await _tell(request.app, user.id, case.number,
                    t("desk.phone.threeway_done", department=dept.name) if outcome == "answered"
                    else t("desk.phone.threeway_failed", department=dept.name, result=t(f"desk.phone.result_{outcome}")))

    # the duty phone may ring for up to 45 s: the agent keeps working, the outcome arrives as a pop-up
    # and in the case's history
    _background(request.app, conference_and_dial())
    return await _page(request, case, flash=t("desk.phone.threeway_dialing", department=dept.name), status=202)


@require_role(*HOTLINE_ROLES)
async def link_call(request: web.Request) -> web.Response:
    """Link the agent's live call (and so its recording) to this case."""
    case, _, t, client, user = await _prelude(request)
    live, refused = await _live_call_or_page(request, case, client, user.agent_no or "")
    if refused is not None:
        return refused
    await _event(request.app, case, "call_link", {"linkedid": live.linkedid, "number": live.other_number}, user=user)
    return await _page(request, case, flash=t("desk.phone.linked"))


# ---- scheduled callbacks and poll calls ---------------------------------------------------------------
class CallRefused(Exception):
    """Why a call cannot be scheduled: the form field and the desk's message key (desk.phone.*)."""

    def __init__(self, field: str, key: str):
        super().__init__(f"{field}: {key}")
        self.field, self.key = field, key


def due_at(request: web.Request, value) -> dt.datetime | None:
    """When to call: ISO 8601, without an offset in the hotline's time zone; None if unreadable."""
    from .casework import _local_datetime

    try:
        return _local_datetime(request, value if isinstance(value, str) else "", "due_at")
    except InvalidInput:
        return None


async def plan_call(app: web.Application, case: Case, user, *, kind: str, due, poll_id: int | None,
                    note: str = ""):
    """Check and store a scheduled callback or poll call for `case` (the desk's form and the REST API
    both come here); raises CallRefused naming what is wrong, or 503 without telephony."""
    if PHONE not in app:
        raise web.HTTPServiceUnavailable(text="telephony needs ami_url")
    services = app[SERVICES]
    number = dialable(case.contact_phone)
    if due is None:
        raise CallRefused("due_at", "desk.phone.when_missing")
    if not number:
        raise CallRefused("number", "desk.phone.no_citizen_number")
    if kind not in scheduled_calls.KINDS:
        raise CallRefused("kind", "desk.phone.choose_kind")
    if kind == "callback" and not user.agent_no:
        raise CallRefused("agent_no", "desk.phone.cannot")
    if kind == "poll_call" and poll_id not in {p.id for p in await active_polls(app)}:
        raise CallRefused("poll", "desk.phone.choose_poll")
    try:
        return await scheduled_calls.schedule(
            services.db, case, kind=kind, due_at=due, number=number, user_id=user.id,
            actor=f"user:{user.username}", agent_no=user.agent_no or "", poll_id=poll_id,
            max_attempts=max(1, services.settings.call_attempts), note=clean_text(note or "")[:500],
            now=_clock(app)())
    except scheduled_calls.ScheduleError as exc:
        raise CallRefused(exc.field, "desk.phone.in_past" if exc.code == "past" else "desk.case.not_done") from None


@require_role(*HOTLINE_ROLES)
async def schedule_call(request: web.Request) -> web.Response:
    from .casework import _case_for

    case = await _case_for(request)
    form = await request.post()
    t = translator(request["locale"])
    poll_id = int(form["poll"]) if str(form.get("poll", "")).isdigit() else None
    try:
        await plan_call(request.app, case, request["user"], kind=str(form.get("kind", "")),
                        due=due_at(request, form.get("due_at")),
                        poll_id=poll_id, note=str(form.get("note", "")))
    except CallRefused as exc:
        return await _page(request, case, flash=t("desk.case.not_done"), errors={"schedule": t(exc.key)}, status=400)
    return await _page(request, case, flash=t("desk.phone.scheduled"))


@require_role(*HOTLINE_ROLES)
async def cancel_call(request: web.Request) -> web.Response:
    from .casework import _case_for

    case = await _case_for(request)
    t = translator(request["locale"])
    user = request["user"]
    done = await scheduled_calls.cancel(request.app[SERVICES].db, int(request.match_info["id"]), case,
                                        user_id=user.id, actor=f"user:{user.username}")
    if not done:
        return await _page(request, case, flash=t("desk.case.not_done"),
                           errors={"schedule": t("desk.phone.nothing_to_cancel")}, status=404)
    return await _page(request, case, flash=t("desk.phone.cancelled"))


def _clock(app: web.Application):
    from .casework import REMINDERS
    return app[REMINDERS].clock if REMINDERS in app else utcnow


async def place_scheduled(app: web.Application, plan: scheduled_calls.PlannedCall) -> scheduled_calls.Outcome:
    """Dial one try of a scheduled call: a callback like click-to-call, a poll call through the voice
    channel into the outbound context with the poll named."""
    variables = {"HOTLINE_CASE": plan.case_number}
    if plan.kind == "callback":
        client = app.get(PHONE)
        if client is None:
            raise RuntimeError("telephony needs ami_url")
        watch = DialWatch(client)  # listening before the call starts: the citizen's side may end fast
        try:
            result = await client.originate(f"PJSIP/{plan.agent_no}", DIAL_CONTEXT, plan.number,
                                            caller_id=f"12345 <{plan.number}>", variables=variables)
            outcome = originate_outcome(result)
            if outcome != "answered":  # the agent did not answer: the citizen was never dialled
                return scheduled_calls.Outcome(outcome, detail=f"agent: Reason {result.get('Reason', '')}")
            # the agent answered; the dialplan now dials the citizen (Dial(...,60) in the sample)
            citizen = await watch.outcome(result.get("Uniqueid", ""), CITIZEN_DIAL_S)
        finally:
            watch.close()
        reached = citizen or "answered"
        return scheduled_calls.Outcome(reached, linkedid=result.get("Uniqueid", "") if reached == "answered" else "",
                                       detail="citizen: " + (citizen or "no DialEnd event (manager read perms?)"))
    else:
        voice = getattr(app[SERVICES], "voice", None)
        if voice is None:
            raise RuntimeError("the voice channel is off: poll calls need the bot on the phone line")
        result = await voice.originate(plan.number, "poll", variables={**variables, "HOTLINE_POLL": plan.poll_id})
    outcome = originate_outcome(result)
    linkedid = result.get("Uniqueid", "") if outcome == "answered" else ""
    return scheduled_calls.Outcome(outcome, linkedid="" if linkedid == "<null>" else linkedid,
                                   detail=f"Reason {result.get('Reason', '')}")


async def _fire_scheduled(app: web.Application, reminder_id: int, now) -> None:
    settings = app[SERVICES].settings
    plan = await scheduled_calls.fire(app[SERVICES].db, reminder_id, now, lambda p: place_scheduled(app, p),
                                      retry_s=settings.call_retry_s)
    if plan is not None and plan.done and plan.attempts and plan.attempts[-1]["result"] != "answered":
        t = translator("zh")
        await _tell(app, plan.user_id, plan.case_number,
                    t("desk.phone.schedule_gave_up", number=plan.case_number,
                      kind=t(f"desk.reminders.kind_{plan.kind}"), attempts=len(plan.attempts)))


def register_scheduled_calls(app: web.Application) -> None:
    """Hand the scheduled-call kinds to the reminder scheduler (called once it exists)."""
    from .casework import REMINDERS

    if REMINDERS in app:
        for kind in scheduled_calls.KINDS:
            app[REMINDERS].handlers[kind] = lambda rid, now: _fire_scheduled(app, rid, now)


# ---- recordings ------------------------------------------------------------------------------------------
@require_role()
async def recording(request: web.Request) -> web.StreamResponse:
    """A call recording of this case (HTTP Range for seeking); only calls the case's events name."""
    from .casework import _case_for

    case = await _case_for(request)  # a department handler: own department's cases only (403)
    linkedid = request.match_info["linkedid"]
    events = await request.app[SERVICES].store.events(case.id)
    if linkedid not in {lid for lid, _ in linked_calls(events)}:
        raise web.HTTPNotFound()
    try:
        path = recording_for(request.app[SERVICES].settings.recordings_dir, linkedid)
    except BadRecording as exc:
        log.warning("recording refused", extra={"fields": {"case": case.number, "reason": str(exc)}})
        raise web.HTTPForbidden() from None
    if path is None:
        raise web.HTTPNotFound()
    response = web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store",
                                               "Content-Disposition": f'inline; filename="{case.number}-{linkedid}.wav"'})
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/desk/cases/{number:\\d+}/call", call)
    r.add_post("/desk/cases/{number:\\d+}/threeway", threeway)
    r.add_post("/desk/cases/{number:\\d+}/link-call", link_call)
    r.add_post("/desk/cases/{number:\\d+}/schedule-call", schedule_call)
    r.add_post("/desk/cases/{number:\\d+}/schedule-call/{id:\\d+}/cancel", cancel_call)
    r.add_get("/desk/cases/{number:\\d+}/recordings/{linkedid}", recording)
    app.on_startup.append(start_phone)
    app.on_cleanup.append(stop_phone)
