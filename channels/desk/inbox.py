"""A department handler's inbox (待签收 / 办理中 / 即将超期 / 已超期, with counts: the page a handler
lands on) and the hotline centre's approvals of departments' 延期 / 退回 requests."""
from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import and_, case as when, func, select

from cases import approvals
from cases.intake import InvalidInput
from cases.models import Case
from cases.reminders import parse_thresholds
from cases.store import Forbidden, select_cases
from cases.workflow import IllegalTransition, REQUEST_KINDS, Role, Status, label
from hotline.i18n import field_errors, translator
from hotline.web.keys import SERVICES

from .auth import require_role
from .pages import render

S, D, ADM = Role.SUPERVISOR, Role.DEPARTMENT, Role.ADMIN
WORKING = (Status.DISPATCHED.value, Status.ACCEPTED.value, Status.IN_PROGRESS.value)
VIEWS = ("to_sign", "working", "due_soon", "overdue")
LIMIT = 200


def _conditions(now: dt.datetime, soon: dt.datetime) -> dict:
    """What each view holds: not signed for yet; being worked; open and due within the reminder
    horizon; open and past the deadline (an approved extension moved the deadline itself)."""
    open_ = Case.status.in_(WORKING)
    return {"to_sign": Case.status == Status.DISPATCHED.value,
            "working": Case.status.in_((Status.ACCEPTED.value, Status.IN_PROGRESS.value)),
            "due_soon": and_(open_, Case.deadline > now, Case.deadline <= soon),
            "overdue": and_(open_, Case.deadline <= now)}


@require_role(D)
async def inbox(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    department_id = request["user"].department_id
    view = request.query.get("view", "to_sign")
    view = view if view in VIEWS else "to_sign"
    now = dt.datetime.now(dt.timezone.utc)
    soon = now + dt.timedelta(hours=max(parse_thresholds(services.settings.reminder_thresholds_h)))
    conds = _conditions(now, soon)
    async with services.db.read() as s:
        mine = Case.department_id == department_id
        counts = (await s.execute(select(*[func.coalesce(func.sum(when((c, 1), else_=0)), 0).label(k)
                                           for k, c in conds.items()])
                                  .where(mine, Case.status.in_(WORKING)))).one()._mapping
        rows = list((await s.execute(select_cases().where(mine, conds[view])
                                     .order_by(Case.deadline.is_(None), Case.deadline, Case.id).limit(LIMIT))).scalars())
    requests = await approvals.pending(services.db, department_id=department_id)
    return render(request, "desk_inbox.html", {
        "view": view, "views": VIEWS, "counts": {k: int(counts[k]) for k in VIEWS}, "cases": rows, "now": now,
        "soon": soon, "limit": LIMIT, "requests": requests, "request_kinds": _kinds(request), "active": "inbox"})


def _kinds(request: web.Request) -> dict:
    return {k: label(REQUEST_KINDS, k, request["locale"]) for k in REQUEST_KINDS}


@require_role(S, ADM)
async def approval_list(request: web.Request) -> web.Response:
    return await _approval_page(request)


async def _approval_page(request: web.Request, *, errors: dict | None = None, status: int = 200) -> web.Response:
    services = request.app[SERVICES]
    t = translator(request["locale"])
    q = request.query
    flash, kind = None, "ok"
    if errors:
        flash, kind = t("desk.case.not_done") + " " + " ".join(errors.values()), "error"
    elif q.get("done") in ("approved", "refused") and q.get("case", "").isdigit():
        flash = t(f"desk.requests.done_{q['done']}", number=q["case"])
    return render(request, "desk_approvals.html", {
        "requests": await approvals.pending(services.db), "request_kinds": _kinds(request), "flash": flash,
        "flash_kind": kind, "active": "approvals", "now": dt.datetime.now(dt.timezone.utc)}, status=status)


@require_role(S, ADM)
async def decide(request: web.Request) -> web.Response:
    """Approve or refuse one request, then back to the list (POST-redirect-GET)."""
    form = await request.post()
    decision = str(form.get("decision", ""))
    try:
        if decision not in ("approve", "refuse"):
            raise InvalidInput({"decision": ("choice", {})})
        _req, case = await approvals.decide(request.app[SERVICES].store, int(request.match_info["id"]),
                                            decision == "approve", request["actor"], str(form.get("comment", "")))
    except InvalidInput as exc:
        return await _approval_page(request, errors=field_errors(exc.errors, request["locale"]), status=400)
    except IllegalTransition:
        t = translator(request["locale"])
        return await _approval_page(request, errors={"request": t("desk.requests.stale")}, status=409)
    except Forbidden:
        raise web.HTTPForbidden()
    raise web.HTTPSeeOther(f"/desk/approvals?done={decision}d&case={case.number}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/desk/inbox", inbox)
    app.router.add_get("/desk/approvals", approval_list)
    app.router.add_post("/desk/approvals/{id:\\d+}", decide)
