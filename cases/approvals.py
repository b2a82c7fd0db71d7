"""A department's requests to the hotline centre and the centre's decisions (审批).

A department that has signed for a case may ask for a later deadline (申请延期) or to give the case
back (申请退回); it cannot do either alone. A supervisor (or an administrator) approves or refuses:
only an approval changes the case, written as the `extend` / `return` event the reports count, in
the same transaction that closes the request. One request of a kind is pending per case at a time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .intake import InvalidInput, clean_text
from .models import Case, CaseEvent, CaseRequest, User, utcnow
from .workflow import ACTIONS, Status, transition

KIND_OF = {"request_extend": "extend", "request_return": "return"}


def move_deadline(case: Case, deadline: dt.datetime, now: dt.datetime, data: dict) -> None:
    """A granted extension: the case's deadline itself moves, so the lists, reminders and reports
    that read `cases.deadline` all see the new one."""
    if deadline <= max(case.deadline or now, now):
        raise InvalidInput({"deadline": ("not_later", {})})
    data["old_deadline"] = case.deadline.isoformat() if case.deadline else None
    case.deadline = deadline
    data["deadline"] = deadline.isoformat()


async def add_request(s, case: Case, action: str, actor, reason: str, deadline: dt.datetime | None,
                      now: dt.datetime, data: dict) -> CaseRequest:
    kind = KIND_OF[action]
    if kind == "extend" and deadline <= max(case.deadline or now, now):
        raise InvalidInput({"deadline": ("not_later", {})})
    pending = (await s.execute(select(CaseRequest.id).where(
        CaseRequest.case_id == case.id, CaseRequest.kind == kind, CaseRequest.decision.is_(None)))).first()
    if pending is not None:
        raise InvalidInput({"action": ("pending", {})})
    req = CaseRequest(case_id=case.id, kind=kind, deadline=deadline if kind == "extend" else None,
                      reason=reason, requested_by=actor.user_id, requested_at=now)
    s.add(req)
    await s.flush()
    data.update({"request": req.id, **({"deadline": deadline.isoformat()} if kind == "extend" else {})})
    return req


@dataclass
class PendingRequest:
    request: CaseRequest
    number: str
    title: str
    status: str
    deadline: dt.datetime | None
    department: str
    requested_by: str


async def pending(db, *, department_id: int | None = None, limit: int = 200) -> list[PendingRequest]:
    """Requests waiting for the centre, oldest first (a department handler: its own)."""
    from .models import Department

    async with db.read() as s:
        q = (select(CaseRequest, Case.number, Case.title, Case.status, Case.deadline, Department.name,
                    User.display_name)
             .join(Case, Case.id == CaseRequest.case_id)
             .outerjoin(Department, Department.id == Case.department_id)
             .outerjoin(User, User.id == CaseRequest.requested_by)
             .where(CaseRequest.decision.is_(None)).order_by(CaseRequest.requested_at).limit(limit))
        if department_id is not None:
            q = q.where(Case.department_id == department_id)
        return [PendingRequest(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6] or "") for r in (await s.execute(q)).all()]


async def for_case(db, case_id: int) -> list[CaseRequest]:
    async with db.read() as s:
        return list((await s.execute(select(CaseRequest).where(CaseRequest.case_id == case_id)
                                     .order_by(CaseRequest.requested_at))).scalars())


async def decide(store, request_id: int, approve: bool, actor, comment: str = "", *,
                 channel: str = "desk") -> tuple[CaseRequest, Case]:
    """Approve or refuse a pending request. An approved extension moves the deadline; an approved
    return sends the case back to the hotline (已退回). A refusal needs its reason."""
    comment = clean_text(comment, multiline=True)
    if not approve and not comment:
        raise InvalidInput({"comment": ("required", {})})
    now = utcnow()
    async with store.db.write() as s:
        req = await s.get(CaseRequest, request_id)
        if req is None:
            raise InvalidInput({"request": ("choice", {})})
        if req.decision is not None:
            raise InvalidInput({"request": ("decided", {})})
        from .store import select_cases
        case = (await s.execute(select_cases().where(Case.id == req.case_id).with_for_update(of=Case))).scalar()
        action = req.kind if approve else "refuse_request"
        store.check_permission(actor, case, action)
        before = Status(case.status)
        after = transition(action, before)  # a case replied meanwhile can no longer be returned
        data: dict[str, Any] = {"request": req.id, "kind": req.kind}
        if approve and req.kind == "extend":
            move_deadline(case, req.deadline, now, data)
        if approve and comment:
            data["decision_comment"] = comment
        req.decision = "approved" if approve else "refused"
        req.decided_by, req.decided_at, req.decision_comment = actor.user_id, now, comment
        if approve and req.kind == "return":  # back at the hotline: the department's other asks lapse
            for other in (await s.execute(select(CaseRequest).where(
                    CaseRequest.case_id == case.id, CaseRequest.decision.is_(None),
                    CaseRequest.id != req.id))).scalars():
                other.decision, other.decided_at, other.decided_by = "lapsed", now, actor.user_id
        case.status, case.updated_at = after.value, now
        s.add(CaseEvent(case_id=case.id, at=now, actor=actor.name, user_id=actor.user_id, channel=channel,
                        action=action, from_status=before.value, to_status=after.value,
                        comment=req.reason if approve and req.kind == "return" else comment,
                        public=ACTIONS[action].public, data=data))
    return req, case
