"""Transferring an agent's live call (转接, 执法调度) from the desk and over the REST API, and the
protected list of leaders' phones it may go to.

Targets: a department's duty phone (the directory), a leader from the leaders' list (admins keep it;
agents see names and titles, never the numbers: the number is looked up here, on the server), or a
number the agent types (checked: digits, 3 to 20, an optional leading +). Modes: blind and attended
(channels/voice/transfer.py does the AMI side; the dialplan keeps the citizen hearing a tone or a
person throughout). Each transfer is a call_transfers row and, when a case is named, the case's
history: `transfer` (who, to whom, how) when it starts, `transfer_result` when its outcome is known
(answered, busy, no_answer, declined, cancelled, failed, citizen_hung_up, agent_hung_up), and
`transfer_back` when the citizen went back to the agent or the queue.

  GET    /api/leaders                     the list (hotline staff; numbers for admins only)
  POST   /api/leaders                     add one (admins)
  DELETE /api/leaders/{id}                remove one (admins)
  POST   /api/calls/transfers             transfer the signed-in agent's live call (409 naming `call`:
                                          no live call, or no telephony configured)
  GET    /api/calls/transfers/{id}        how it stands
  POST   /api/calls/transfers/{id}/complete   attended: join the citizen to the department, leave
  POST   /api/calls/transfers/{id}/take-back  attended: end the consultation, back to the citizen
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import select

from cases.intake import clean_text
from cases.models import CallTransfer, Case, CaseEvent, Leader, utcnow
from cases.workflow import HOTLINE_ROLES, Role
from channels.voice import transfer as xfer
from hotline.api import read_json
from hotline.i18n import translator
from hotline.web.auth import current_user, require
from hotline.web.keys import SERVICES
from hotline.web.responses import json_response

from .auth import require_role
from .telephony import PHONE, _tell, dialable, duty_departments

log = logging.getLogger("hotline.desk.transfer")
DESK = web.AppKey("desk_transfers", object)


class Refused(Exception):
    """Why a transfer or a leader is refused: the field and the message key (desk.transfer.*)."""

    def __init__(self, field: str, key: str, status: int = 400):
        super().__init__(f"{field}: {key}")
        self.field, self.key, self.status = field, key, status


# ---- leaders ---------------------------------------------------------------------------------------
async def active_leaders(app: web.Application) -> list[Leader]:
    async with app[SERVICES].db.read() as s:
        return list((await s.execute(select(Leader).where(Leader.active.is_(True))
                                     .order_by(Leader.position, Leader.id))).scalars())


def leader_view(leader: Leader, *, with_phone: bool) -> dict:
    view = {"id": leader.id, "name": leader.name, "title": leader.title, "position": leader.position,
            "active": leader.active}
    if with_phone:  # admins only: agents transfer by name, the server dials
        view["phone"] = leader.phone
    return view


def parse_leader(data: dict) -> dict:
    values = {}
    for name, limit, required in (("name", 100, True), ("title", 100, False)):
        raw = data.get(name, "")
        if not isinstance(raw, str):
            raise Refused(name, "desk.transfer.bad_field")
        raw = clean_text(raw)
        if (required and not raw) or len(raw) > limit:
            raise Refused(name, "desk.transfer.bad_field")
        values[name] = raw
    phone = data.get("phone")
    if not isinstance(phone, str) or not dialable(phone):
        raise Refused("phone", "desk.transfer.bad_number")
    values["phone"] = dialable(phone)
    position = data.get("position", 0)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10000:
        raise Refused("position", "desk.transfer.bad_field")
    values["position"] = position
    return values


def _refusal(request: web.Request, exc: Refused) -> web.Response:
    t = translator(request["locale"])
    return json_response({"error": "invalid", "errors": {exc.field: t(exc.key)}}, status=exc.status)


async def api_leaders(request: web.Request) -> web.Response:
    actor = await require(request, *HOTLINE_ROLES)
    admin = actor.role == Role.ADMIN
    return json_response({"leaders": [leader_view(x, with_phone=admin) for x in await active_leaders(request.app)]})


async def api_add_leader(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    try:
        values = parse_leader(await read_json(request))
    except Refused as exc:
        return _refusal(request, exc)
    async with request.app[SERVICES].db.write() as s:
        leader = Leader(**values)
        s.add(leader)
        await s.flush()
        view = leader_view(leader, with_phone=True)
    return json_response(view, status=201, headers={"Location": f"/api/leaders/{view['id']}"})


async def api_delete_leader(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    async with request.app[SERVICES].db.write() as s:
        leader = await s.get(Leader, int(request.match_info["id"]))
        if leader is None:
            raise web.HTTPNotFound()
        await s.delete(leader)
    return web.Response(status=204)


# ---- targets -----------------------------------------------------------------------------------------
async def resolve_target(app: web.Application, *, department=None, leader=None, number=None) -> tuple[str, str, str, str]:
    """(kind, ref, label, number to dial) for exactly one of a department code, a leader id or a
    typed number; Refused naming the field otherwise."""
    given = [x for x in (department, leader, number) if x not in (None, "")]
    if len(given) != 1:
        raise Refused("target", "desk.transfer.choose_target")
    if department not in (None, ""):
        dept = next((d for d in await duty_departments(app) if d.code == str(department)), None)
        if dept is None:
            raise Refused("department", "desk.transfer.no_duty_phone")
        return "department", dept.code, dept.name, dialable(dept.phone)
    if leader not in (None, ""):
        try:
            if isinstance(leader, bool):
                raise TypeError
            leader_id = int(leader)
        except (TypeError, ValueError):
            raise Refused("leader", "desk.transfer.no_leader") from None
        found = next((x for x in await active_leaders(app) if x.id == leader_id), None)
        if found is None or not dialable(found.phone):
            raise Refused("leader", "desk.transfer.no_leader")
        return "leader", str(found.id), f"{found.title} {found.name}".strip(), dialable(found.phone)
    digits = dialable(number) if isinstance(number, str) else None
    if not digits:
        raise Refused("number", "desk.transfer.bad_number")
    return "number", digits, digits, digits


# ---- the transfers in flight ---------------------------------------------------------------------------
class TransferDesk:
    """The app's transfers: starts them, follows their outcome (TransferWatch on the desk's AMI
    client) and writes each outcome into call_transfers and the case's history."""

    def __init__(self, app: web.Application, ami):
        self.app = app
        self.ami = ami
        self.watch = xfer.TransferWatch(ami, self._changed)
        self._tasks: set = set()
        self._lock = asyncio.Lock()

    def _changed(self, state: xfer.TransferState, step: str) -> None:
        task = asyncio.create_task(self._record(state, step))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, state: xfer.TransferState, step: str) -> None:
        async with self._lock:  # one transfer's steps are written in order
            async with self.app[SERVICES].db.write() as s:
                row = await s.get(CallTransfer, int(state.id))
                if row is None:
                    return
                case = await s.get(Case, row.case_id) if row.case_id else None
                events = []
                if state.answered and row.answered_at is None:
                    row.answered_at = utcnow()
                    if state.mode == xfer.ATTENDED and state.outcome is None:
                        row.state = "consulting"
                if state.outcome and row.outcome is None:
                    row.outcome = state.outcome
                    events.append(("transfer_result", {"outcome": state.outcome}))
                if state.returned_to and row.returned_to is None:
                    row.returned_to = state.returned_to
                    events.append(("transfer_back", {"to": state.returned_to}))
                if state.ended and row.state != "done":
                    row.state, row.ended_at = "done", utcnow()
                    self.watch.forget(state.id)
                for action, data in events:
                    if case is not None:
                        s.add(CaseEvent(case_id=case.id, actor="system", user_id=None, channel="phone_agent",
                                        action=action, from_status=case.status, to_status=case.status, public=False,
                                        data={"transfer": row.id, "mode": row.mode, "target": row.target_label,
                                              "linkedid": row.linkedid, **data}))
                user_id, number, label, outcome = row.user_id, case.number if case else "", row.target_label, row.outcome
        if events and events[0][0] == "transfer_result":
            t = translator("zh")
            await _tell(self.app, user_id, number, t("desk.transfer.told", target=label,
                                                     result=t(f"desk.transfer.outcome_{outcome}")))

    async def start(self, user, *, mode: str, target: tuple[str, str, str, str], case: Case | None) -> CallTransfer:
        if mode not in xfer.MODES:
            raise Refused("mode", "desk.transfer.choose_mode")
        if not user.agent_no:
            raise Refused("agent_no", "desk.phone.cannot")
        kind, ref, label, number = target
        services = self.app[SERVICES]
        try:
            call = await xfer.find_call(self.ami, user.agent_no)
        except xfer.TransferError as exc:
            raise Refused("call", "desk.phone.no_live_call" if "live call" in str(exc) else "desk.transfer.failed",
                          status=409) from None
        # the row and the case's `transfer` event first: the dialplan's steps may come back at once
        async with services.db.write() as s:
            row = CallTransfer(case_id=case.id if case else None, user_id=user.id, agent_no=user.agent_no,
                               mode=mode, target_kind=kind, target_ref=ref, target_label=label, number=number,
                               linkedid=call.linkedid)
            s.add(row)
            await s.flush()
            row_id = row.id
            event = None
            if case is not None:
                event = CaseEvent(case_id=case.id, actor=f"user:{user.username}", user_id=user.id,
                                  channel="phone_agent", action="transfer", from_status=case.status,
                                  to_status=case.status, public=False,
                                  data={"transfer": row_id, "mode": mode, "target_kind": kind, "target": label,
                                        "agent_no": user.agent_no, "linkedid": call.linkedid})
                s.add(event)
                await s.flush()
            event_id = event.id if event is not None else None
        try:
            await xfer.start(self.ami, self.watch, call, agent_no=user.agent_no, transfer_id=str(row_id), mode=mode,
                             number=number, ring_s=services.settings.transfer_ring_s)
        except xfer.TransferError as exc:  # nothing happened to the call: nothing is kept
            async with services.db.write() as s:
                if event_id is not None:
                    await s.delete(await s.get(CaseEvent, event_id))
                await s.delete(await s.get(CallTransfer, row_id))
            log.info("transfer refused", extra={"fields": {"agent": user.agent_no, "why": str(exc)}})
            raise Refused("call", "desk.transfer.failed", status=409) from None
        return await self.get(row_id)

    async def get(self, transfer_id: int) -> CallTransfer | None:
        async with self.app[SERVICES].db.read() as s:
            return await s.get(CallTransfer, transfer_id)

    def state(self, transfer_id: int) -> xfer.TransferState | None:
        return self.watch.transfers.get(str(transfer_id))

    async def complete(self, row: CallTransfer) -> None:
        await self._finish(row, xfer.complete, "desk.transfer.nothing_to_complete")

    async def take_back(self, row: CallTransfer) -> None:
        await self._finish(row, xfer.take_back, "desk.transfer.nothing_to_take_back")

    async def _finish(self, row: CallTransfer, action, refusal: str) -> None:
        """Complete or take back a consultation still in progress; a 409 when there is none."""
        state = self.state(row.id)
        if state is None:
            raise Refused("transfer", refusal, status=409)
        try:
            await action(self.ami, state)
        except xfer.TransferError:
            raise Refused("transfer", refusal, status=409) from None

    async def close(self) -> None:
        self.watch.close()
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)


def transfer_view(row: CallTransfer, *, with_number: bool) -> dict:
    view = {"id": row.id, "mode": row.mode, "target_kind": row.target_kind, "target": row.target_label,
            "agent_no": row.agent_no, "state": row.state, "outcome": row.outcome, "returned_to": row.returned_to,
            "linkedid": row.linkedid, "started_at": row.started_at.isoformat(),
            "answered_at": row.answered_at.isoformat() if row.answered_at else None,
            "ended_at": row.ended_at.isoformat() if row.ended_at else None}
    if with_number or row.target_kind != "leader":
        view["number"] = row.number
    return view


def _desk_or_503(app: web.Application) -> TransferDesk:
    """The desk's transfers; without telephony (ami_url) there is no call to transfer: the REST API
    answers 409 naming `call`, the desk's forms are not shown (a stray post gets 503)."""
    if DESK not in app:
        raise web.HTTPServiceUnavailable(text="telephony needs ami_url")
    return app[DESK]


def _desk_or_refused(app: web.Application) -> TransferDesk:
    if DESK not in app:
        raise Refused("call", "desk.transfer.no_telephony", status=409)
    return app[DESK]


async def _case_or_none(request: web.Request, actor, number) -> Case | None:
    if number in (None, ""):
        return None
    if not isinstance(number, str) or not number.isdigit():
        raise Refused("case", "desk.transfer.bad_case")
    return await request.app[SERVICES].store.get_for(actor, number)


# ---- REST API --------------------------------------------------------------------------------------------
async def api_start(request: web.Request) -> web.Response:
    actor = await require(request, *HOTLINE_ROLES)
    user = await current_user(request)
    data = await read_json(request)
    try:
        case = await _case_or_none(request, actor, data.get("case"))
        target = await resolve_target(request.app, department=data.get("department"), leader=data.get("leader"),
                                      number=data.get("number"))
        row = await _desk_or_refused(request.app).start(user, mode=data.get("mode"), target=target, case=case)
    except Refused as exc:
        return _refusal(request, exc)
    return json_response(transfer_view(row, with_number=actor.role == Role.ADMIN), status=202,
                         headers={"Location": f"/api/calls/transfers/{row.id}"})


async def _own_transfer(request: web.Request) -> tuple[CallTransfer, object]:
    actor = await require(request, *HOTLINE_ROLES)
    user = await current_user(request)
    async with request.app[SERVICES].db.read() as s:
        row = await s.get(CallTransfer, int(request.match_info["id"]))
    if row is None or (row.user_id != user.id and actor.role not in (Role.SUPERVISOR, Role.ADMIN)):
        raise web.HTTPNotFound()
    return row, actor


async def api_get(request: web.Request) -> web.Response:
    row, actor = await _own_transfer(request)
    return json_response(transfer_view(row, with_number=actor.role == Role.ADMIN))


async def _api_act(request: web.Request, what: str) -> web.Response:
    row, actor = await _own_transfer(request)
    try:
        desk = _desk_or_refused(request.app)
        await (desk.complete(row) if what == "complete" else desk.take_back(row))
    except Refused as exc:
        return _refusal(request, exc)
    return json_response(transfer_view(await desk.get(row.id), with_number=actor.role == Role.ADMIN))


async def api_complete(request: web.Request) -> web.Response:
    return await _api_act(request, "complete")


async def api_take_back(request: web.Request) -> web.Response:
    return await _api_act(request, "take_back")


# ---- the desk's forms (case page, live call page) ---------------------------------------------------------
async def transfer_context(app: web.Application, user, case: Case | None) -> dict:
    """What the transfer panel (desk_transfer.html) shows: targets, and this agent's open transfers."""
    if DESK not in app or not user.agent_no or Role(user.role) not in HOTLINE_ROLES:
        return {"can_transfer": False}
    async with app[SERVICES].db.read() as s:
        open_rows = list((await s.execute(select(CallTransfer).where(
            CallTransfer.user_id == user.id, CallTransfer.state != "done").order_by(CallTransfer.id.desc())
            .limit(5))).scalars())
    return {"can_transfer": True, "transfer_departments": await duty_departments(app),
            "transfer_leaders": await active_leaders(app), "open_transfers": open_rows,
            "transfer_case": case.number if case else ""}


def _back(form) -> str:
    back = str(form.get("back", ""))
    return back if back.startswith("/desk/") and "//" not in back and "\\" not in back else "/desk/live"


async def _answer(request: web.Request, form, flash: str, *, error: bool, status: int) -> web.Response:
    """The case page again when the form names a case; otherwise back to the page it came from."""
    number = str(form.get("case", ""))
    if number.isdigit():
        from .telephony import _page

        case = await request.app[SERVICES].store.get_for(request["actor"], number)
        return await _page(request, case, flash=flash, errors={"transfer": flash} if error else None, status=status)
    raise web.HTTPSeeOther(_back(form))


@require_role(*HOTLINE_ROLES)
async def desk_start(request: web.Request) -> web.Response:
    form = await request.post()
    t = translator(request["locale"])
    desk = _desk_or_503(request.app)
    choice = str(form.get("target", ""))
    kind, _, ref = choice.partition(":")
    try:
        case = await _case_or_none(request, request["actor"], str(form.get("case", "")))
        target = await resolve_target(request.app, department=ref if kind == "dept" else None,
                                      leader=ref if kind == "leader" else None,
                                      number=str(form.get("number", "")) if kind == "number" else None)
        row = await desk.start(request["user"], mode=str(form.get("mode", "")), target=target, case=case)
    except Refused as exc:
        return await _answer(request, form, t(exc.key), error=True, status=exc.status)
    return await _answer(request, form, t(f"desk.transfer.started_{row.mode}", target=row.target_label),
                         error=False, status=202)


async def _desk_act(request: web.Request, what: str) -> web.Response:
    form = await request.post()
    t = translator(request["locale"])
    desk = _desk_or_503(request.app)
    row = await desk.get(int(request.match_info["id"]))
    if row is None or row.user_id != request["user"].id:
        raise web.HTTPNotFound()
    try:
        await (desk.complete(row) if what == "complete" else desk.take_back(row))
    except Refused as exc:
        return await _answer(request, form, t(exc.key), error=True, status=exc.status)
    return await _answer(request, form, t(f"desk.transfer.{what}_done", target=row.target_label), error=False,
                         status=200)


@require_role(*HOTLINE_ROLES)
async def desk_complete(request: web.Request) -> web.Response:
    return await _desk_act(request, "complete")


@require_role(*HOTLINE_ROLES)
async def desk_take_back(request: web.Request) -> web.Response:
    return await _desk_act(request, "take_back")


# ---- life cycle --------------------------------------------------------------------------------------------
async def start_transfers(app: web.Application) -> None:
    if PHONE in app:  # after telephony's start_phone: the same AMI login
        app[DESK] = TransferDesk(app, app[PHONE])


async def stop_transfers(app: web.Application) -> None:
    if DESK in app:
        await app[DESK].close()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/leaders", api_leaders)
    r.add_post("/api/leaders", api_add_leader)
    r.add_delete("/api/leaders/{id:[0-9]{1,9}}", api_delete_leader)
    r.add_post("/api/calls/transfers", api_start)
    r.add_get("/api/calls/transfers/{id:[0-9]{1,9}}", api_get)
    r.add_post("/api/calls/transfers/{id:[0-9]{1,9}}/complete", api_complete)
    r.add_post("/api/calls/transfers/{id:[0-9]{1,9}}/take-back", api_take_back)
    r.add_post("/desk/transfers", desk_start)
    r.add_post("/desk/transfers/{id:[0-9]{1,9}}/complete", desk_complete)
    r.add_post("/desk/transfers/{id:[0-9]{1,9}}/take-back", desk_take_back)
    app.on_startup.append(start_transfers)
    app.on_cleanup.insert(0, stop_transfers)
