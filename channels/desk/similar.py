"""相似工单 at the desk: similar open cases on the case page and at intake, and linking or merging.

- The case page lists similar open cases (cases/similar.py), the cases linked to it, and, on a
  master, the words, files and history of the cases merged into it. A department handler sees only
  its own department's cases in the panel (the finder is limited to it) and cannot link or merge.
- Link (关联: both stay), unlink, merge (合并: one is closed as 已合并 into the other): POST
  /desk/cases/{number}/links with `other` and `op` (link | unlink | merge_into: this case into the
  other | merge_here: the other into this one), answered by a redirect to the surviving case.
- Intake: /desk/api/similar lists the caller's open cases like the one being typed; "补充到此工单"
  adds the intake to one as the citizen's supplement instead of registering a second case
  (intake_submit in casework.py, `supplement_to`).
"""
from __future__ import annotations

from aiohttp import web

from cases import case_links
from cases.intake import InvalidInput, clean_text, normalize_phone
from cases.models import Case
from cases.similar import Probe
from cases.store import Forbidden
from cases.workflow import OPEN_STATUSES, Role, Status
from hotline.i18n import field_errors, translator
from hotline.web.keys import SERVICES

from .auth import require_role
from .pages import render

HOTLINE = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
OPS = ("link", "unlink", "merge_into", "merge_here")
SHOWN = 8


def _scope(user) -> int | None:
    return user.department_id if Role(user.role) is Role.DEPARTMENT else None


async def case_context(request: web.Request, case: Case) -> dict:
    """What the case page shows of similar, linked and merged cases."""
    services = request.app[SERVICES]
    user = request["user"]
    links = await case_links.linked(services.store, case)
    scope = _scope(user)
    if scope is not None:  # a department sees only its own department's cases, even here
        links = [link for link in links if link.case.department_id == scope or link.kind == "merged_in"]
    linked_ids = {link.case.id for link in links}
    similar = []
    if Status(case.status) in OPEN_STATUSES:
        similar = [m for m in await services.store.similar.find(Probe.of_case(case), limit=SHOWN, department_id=scope)
                   if m.case.id not in linked_ids]
    merged = []
    for link in links:
        if link.kind == "merged_in":  # merged into this one: its words, files and history live on here
            merged.append({"case": link.case, "events": await services.store.events(link.case.id),
                           "attachments": await services.store.attachments(link.case.id)})
    return {"similar": similar, "links": links, "merged_cases": merged,
            "can_link": Role(user.role) in HOTLINE,
            "case_open": Status(case.status) in OPEN_STATUSES}


async def master_visible(request: web.Request, case: Case) -> bool:
    """Whether the signed-in user may see the case that `case` was merged into."""
    store = request.app[SERVICES].store
    for link in await case_links.linked(store, case):
        if link.kind == "merged":
            try:
                store.check_permission(request["actor"], link.case)
                return True
            except Forbidden:
                return False
    return False


@require_role(*HOTLINE)
async def links_post(request: web.Request) -> web.Response:
    """Link, unlink or merge; a redirect to the case that remains (POST-redirect-GET)."""
    from .casework import _case_for, _case_page

    case = await _case_for(request)
    form = await request.post()
    op = str(form.get("op", ""))
    other = "".join(str(form.get("other", "")).split())[:20]
    comment = clean_text(str(form.get("comment", "")), multiline=True)[:2000]
    services = request.app[SERVICES]
    actor = request["actor"]
    t = translator(request["locale"])
    try:
        if op not in OPS:
            raise InvalidInput({"op": ("choice", {})})
        if not other.isdigit():
            raise InvalidInput({"other": ("required", {})})
        if op == "link":
            await case_links.link(services.store, case.number, other, actor, comment=comment)
            target = case.number
        elif op == "unlink":
            await case_links.unlink(services.store, case.number, other, actor)
            target = case.number
        elif op == "merge_into":
            target = (await case_links.merge(services.store, case.number, other, actor, comment=comment)).number
        else:
            target = (await case_links.merge(services.store, other, case.number, actor, comment=comment)).number
    except InvalidInput as exc:
        errors = field_errors(exc.errors, request["locale"])
        return await _case_page(request, await services.store.get(case.number), errors=errors,
                                flash=" ".join([t("desk.case.not_done"), *errors.values()]), status=400)
    raise web.HTTPSeeOther(f"/desk/cases/{target}?done={op}")


def intake_probe(query) -> Probe:
    """The intake form's fields as typed so far (phone, email, place, question, category)."""
    return Probe(phone=normalize_phone(clean_text(query.get("phone", ""))[:40]),
                 email=clean_text(query.get("email", ""))[:200], location=clean_text(query.get("location", ""))[:300],
                 text=clean_text(query.get("q", ""), multiline=True)[:2000],
                 category_code=clean_text(query.get("category", ""))[:64] or None)


async def intake_similar(request: web.Request, probe: Probe) -> list:
    if len(probe.phone) < 5 and not probe.email and len(probe.location) < 2:
        return []
    return await request.app[SERVICES].store.similar.find(probe, limit=SHOWN)


@require_role(*HOTLINE)
async def similar_api(request: web.Request) -> web.Response:
    """The open cases like the one being typed at intake (HTML fragment, desk_similar.html)."""
    return render(request, "desk_similar.html", {"similar": await intake_similar(request, intake_probe(request.query)),
                                                 "intake": True, "can_link": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/desk/cases/{number:\\d+}/links", links_post)
    app.router.add_get("/desk/api/similar", similar_api)
