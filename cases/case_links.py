"""Linking and merging cases about one matter (the desk's 相似工单 panel).

- link (关联): both cases stay and are worked; each gets a `link` event naming the other.
- merge (合并): the duplicate is closed as 已合并 (status `merged`, a `merge` event naming the master,
  which the citizen sees in the look-up); the master gets a `merge_in` event; from then on the
  master's page shows the merged case's words, files and history. Reports count the matter once:
  a merged case is left out of them (cases/reports/base.py, daily.py).
Only the hotline's agents and supervisors (and admins) link or merge (workflow.ACTIONS["merge"]);
both cases' rows and events change in one transaction, with the cases locked in id order.
- suspected (疑似重复): an intake filed apart because whoever gave the citizen's phone or email did
  not prove the open case like it is theirs (`flag_suspected`): internal events on both, for an
  agent to merge; the citizen is told nothing of the other case.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import delete, or_, select, update

from .intake import CaseInput, InvalidInput
from .models import Case, CaseEvent, CaseLink, CaseRequest, utcnow
from .similar import Probe
from .store import SYSTEM, Actor, CaseStore, ClosedCase, Forbidden, NotFound, select_cases
from .workflow import ACTIONS, OPEN_STATUSES, HOTLINE_ROLES, Status, transition

RELATED, MERGED = "related", "merged"


@dataclass
class Linked:
    case: Case
    kind: str          # related | merged (this case merged into the one shown) | merged_in (the shown one into this)


def _check(actor: Actor, cases: list[Case], store: CaseStore) -> None:
    if actor.role not in HOTLINE_ROLES:
        raise Forbidden("only the hotline's agents and supervisors link or merge cases")
    for case in cases:
        store.check_permission(actor, case)


async def _pair(s, number: str, other: str) -> tuple[Case, Case]:
    if number == other:
        raise InvalidInput({"other": ("same_case", {})})
    rows = {c.number: c for c in (await s.execute(
        select_cases().where(Case.number.in_([number, other])).order_by(Case.id).with_for_update(of=Case))).scalars()}
    if number not in rows:
        raise NotFound(number)
    if other not in rows:
        raise InvalidInput({"other": ("unknown_case", {})})
    return rows[number], rows[other]


async def link(store: CaseStore, number: str, other: str, actor: Actor, *, comment: str = "") -> None:
    """Mark two cases as about one matter (both stay); a second link of the same pair changes nothing."""
    async with store.db.write() as s:
        case, peer = await _pair(s, number, other)
        _check(actor, [case, peer], store)
        if Status.MERGED.value in (case.status, peer.status):
            raise InvalidInput({"other": ("merged_case", {})})
        low, high = sorted((case.id, peer.id))
        existing = (await s.execute(select(CaseLink).where(
            or_((CaseLink.case_id == low) & (CaseLink.other_id == high),
                (CaseLink.case_id == high) & (CaseLink.other_id == low))))).scalar()
        if existing is not None:
            return
        now = utcnow()
        s.add(CaseLink(case_id=low, other_id=high, kind=RELATED, created_by=actor.user_id, created_at=now))
        for a, b in ((case, peer), (peer, case)):
            s.add(CaseEvent(case_id=a.id, at=now, actor=actor.name, user_id=actor.user_id, channel="desk",
                            action="link", from_status=a.status, to_status=a.status, public=False,
                            comment=comment, data={"case": b.number}))


async def unlink(store: CaseStore, number: str, other: str, actor: Actor) -> None:
    """Undo a link (not a merge: a merged case stays merged)."""
    async with store.db.write() as s:
        case, peer = await _pair(s, number, other)
        _check(actor, [case, peer], store)
        low, high = sorted((case.id, peer.id))
        gone = (await s.execute(delete(CaseLink).where(CaseLink.case_id == low, CaseLink.other_id == high,
                                                       CaseLink.kind == RELATED))).rowcount
        if not gone:
            raise InvalidInput({"other": ("not_linked", {})})
        now = utcnow()
        for a, b in ((case, peer), (peer, case)):
            s.add(CaseEvent(case_id=a.id, at=now, actor=actor.name, user_id=actor.user_id, channel="desk",
                            action="unlink", from_status=a.status, to_status=a.status, public=False,
                            data={"case": b.number}))


async def merge(store: CaseStore, duplicate: str, master: str, actor: Actor, *, comment: str = "") -> Case:
    """Close `duplicate` into `master` (both open); returns the master."""
    async with store.db.write() as s:
        dup, main = await _pair(s, duplicate, master)
        _check(actor, [dup, main], store)
        store.check_permission(actor, dup, "merge")
        if Status(main.status) not in OPEN_STATUSES:
            raise InvalidInput({"other": ("master_closed", {})})
        before = Status(dup.status)
        after = transition("merge", before)  # IllegalTransition for a case that is no longer open
        now = utcnow()
        dup.status, dup.closed_at, dup.updated_at = after.value, now, now
        main.updated_at = now
        # a department's pending 延期/退回 on the duplicate has nothing left to decide
        await s.execute(update(CaseRequest).where(CaseRequest.case_id == dup.id, CaseRequest.decision.is_(None))
                        .values(decision="lapsed", decided_at=now, decided_by=actor.user_id))
        low, high = sorted((dup.id, main.id))
        await s.execute(delete(CaseLink).where(CaseLink.case_id == low, CaseLink.other_id == high))
        s.add(CaseLink(case_id=dup.id, other_id=main.id, kind=MERGED, created_by=actor.user_id, created_at=now))
        s.add(CaseEvent(case_id=dup.id, at=now, actor=actor.name, user_id=actor.user_id, channel="desk",
                        action="merge", from_status=before.value, to_status=after.value,
                        public=ACTIONS["merge"].public, comment=comment, data={"into": main.number}))
        s.add(CaseEvent(case_id=main.id, at=now, actor=actor.name, user_id=actor.user_id, channel="desk",
                        action="merge_in", from_status=main.status, to_status=main.status, public=False,
                        comment=comment, data={"case": dup.number}))
    return await store.get(master)


async def linked(store: CaseStore, case: Case) -> list[Linked]:
    """The cases linked to this one, and merged into or from it, oldest link first."""
    async with store.db.read() as s:
        rows = (await s.execute(select(CaseLink).where(or_(CaseLink.case_id == case.id, CaseLink.other_id == case.id))
                                .order_by(CaseLink.id))).scalars().all()
        ids = {r.case_id if r.other_id == case.id else r.other_id for r in rows}
        cases = {c.id: c for c in (await s.execute(select_cases().where(Case.id.in_(ids)))).scalars()} if ids else {}
    out = []
    for r in rows:
        peer = r.case_id if r.other_id == case.id else r.other_id
        if peer not in cases:
            continue
        kind = r.kind if r.kind == RELATED else ("merged_in" if r.other_id == case.id else MERGED)
        out.append(Linked(cases[peer], kind))
    return out


def intake_as_supplement(inp: CaseInput) -> str:
    """What a new intake adds to the citizen's open case about the same matter: their new words,
    with the place and time where they said them."""
    lines = [inp.description]
    if inp.location and inp.location not in inp.description:
        lines.append(f"地点：{inp.location}")
    if inp.happened and inp.happened not in inp.description:
        lines.append(f"时间：{inp.happened}")
    return "\n".join(lines)


async def add_intake_to(store: CaseStore, case: Case, inp: CaseInput, **data) -> Case | None:
    """Add a new intake to `case` (the citizen's likely duplicate) as their supplement, recorded with
    where it came from; None when the case stopped being open meanwhile (the caller then files a
    new case: nothing is dropped)."""
    try:
        await store.add_citizen_information(case.id, intake_as_supplement(inp), channel=inp.channel.value,
                                            data={"intake": inp.channel.value, **data}, open_only=True)
    except (ClosedCase, NotFound):
        return None
    return case


async def flag_suspected(store: CaseStore, new: Case, existing: Case, *, channel: str) -> None:
    """`new` was filed apart from `existing`, this citizen's likely duplicate by the phone or email
    given, because the channel could not tell that the one who gave them is that citizen: both get
    an internal event naming the other (the desk's case page shows it beside 相似工单, where an agent
    merges them). Never public: the citizen of either case learns nothing of the other."""
    now = utcnow()
    async with store.db.write() as s:
        for case, other, action in ((new, existing, "duplicate_suspected"), (existing, new, "duplicate_reported")):
            s.add(CaseEvent(case_id=case.id, at=now, actor=SYSTEM.name, channel=channel, action=action,
                            from_status=case.status, to_status=case.status, public=False,
                            data={"case": other.number}))


async def flag_if_duplicate(store: CaseStore, case: Case, inp: CaseInput) -> Case | None:
    """After filing `case` from a channel that cannot prove whose phone or email was given (the
    portal's form, the REST API): flag it beside the likely duplicate, if any; returns that one."""
    match = await store.similar.likely_duplicate(replace(Probe.of_input(inp), exclude_id=case.id))
    if match is not None:
        await flag_suspected(store, case, match.case, channel=inp.channel.value)
    return match.case if match is not None else None
