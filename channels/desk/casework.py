"""Case work at the desk: search and list, the case page with its actions, dispatch, personal
reminders, phone intake with the caller's history, letters/faxes/emails with scans, follow-up,
the reminder lists, and the printable sheets (HTML and PDF)."""
from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web
from sqlalchemy import func, or_, select

from cases import approvals
from cases.dispatch import dispatch as dispatch_case, suggest_departments
from cases.intake import InvalidInput, clean_text, local_datetime, validate_case
from cases.knowledge import KnowledgeRepository
from cases.models import Case, CaseEvent, Department, Reminder, ServiceRating, User
from cases.reminders import Notice, ReminderScheduler, parse_thresholds
from cases.store import CaseFilter, Forbidden, select_cases
from cases.workflow import (ACTIONS, CHANNEL_LABELS, KIND_LABELS, OPEN_STATUSES, REQUEST_KINDS,
                            SATISFACTION_LABELS, STATUS_LABELS, UNREACHED, Channel, Kind, Role, Status,
                            allowed_actions, label)
from hotline.i18n import field_errors, translator
from hotline.web.keys import SERVICES
from hotline.web.responses import json_response

from .auth import require_role
from .live import LIVE
from .telephony import case_context as telephony_context
from .pages import render
from . import similar

A, S, D, ADM = Role.AGENT, Role.SUPERVISOR, Role.DEPARTMENT, Role.ADMIN
HOTLINE = (A, S, ADM)
PAGE_SIZE = 50
# a list counts its matches up to this many and then says "10,000+": counting every one of 100,000
# cases would read them all, while this bounds what any list reads (cases/store.py search())
COUNT_LIMIT = 10_000
REMINDERS = web.AppKey("desk_reminders", ReminderScheduler)
# actions done on the case page with their own forms (dispatch/reopen pick departments)
SPECIAL = {"dispatch", "reopen", "remind", "follow_up_unreached", "merge",  # merge: the 相似工单 panel
           "extend", "return", "refuse_request"}  # the centre decides these on a request (/desk/approvals)


def _local_datetime(request: web.Request, value: str, name: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """A date or datetime-local value typed in the desk's time zone, as an aware datetime."""
    return local_datetime(value, name, request.app[SERVICES].settings.timezone, end_of_day=end_of_day)


def _vocab(request: web.Request) -> dict:
    locale = request["locale"]
    return {"kinds": [(k.value, label(KIND_LABELS, k, locale)) for k in Kind],
            "statuses": [(s.value, label(STATUS_LABELS, s, locale)) for s in Status],
            "channels": [(c.value, label(CHANNEL_LABELS, c, locale)) for c in Channel],
            "satisfactions": [(k, label(SATISFACTION_LABELS, k, locale)) for k in (1, 2, 3)]}


def _department_scope(user) -> int | None:
    """A department handler's searches are always limited to the department."""
    return user.department_id if Role(user.role) is D else None


def case_filter(request: web.Request) -> CaseFilter:
    q = request.query
    user = request["user"]
    department_id = _department_scope(user)
    if department_id is None and q.get("department", "").isdigit():
        department_id = int(q["department"])
    kinds = [k for k in q.getall("kind", []) if k in {x.value for x in Kind}]
    statuses = [s for s in q.getall("status", []) if s in {x.value for x in Status}]
    return CaseFilter(number=clean_text(q.get("number", ""))[:20], phone=clean_text(q.get("phone", ""))[:40],
                      text=clean_text(q.get("q", ""))[:100], kinds=kinds, category=clean_text(q.get("category", ""))[:64],
                      department_id=department_id, statuses=statuses,
                      channel=q.get("channel", "") if q.get("channel") in {c.value for c in Channel} else "",
                      created_from=_local_datetime(request, q.get("from", ""), "from"),
                      created_to=_local_datetime(request, q.get("to", ""), "to", end_of_day=True),
                      overdue=q.get("overdue") == "1")


@require_role()
async def case_list(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        f = case_filter(request)
        errors = {}
    except InvalidInput as exc:
        f, errors = CaseFilter(department_id=_department_scope(request["user"])), field_errors(exc.errors, request["locale"])
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    rows, total = await services.store.search(f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                              count_limit=COUNT_LIMIT)
    query = {k: v for k, v in request.query.items() if k != "page"}
    more = total > COUNT_LIMIT
    return render(request, "desk_cases.html", {
        "cases": rows, "total": f"{COUNT_LIMIT:,}+" if more else f"{total:,}", "page": page,
        "pages": max(1, -(-min(total, COUNT_LIMIT) // PAGE_SIZE)), "more_pages": more, "q": request.query,
        "query": query, "errors": errors, "departments": await services.store.departments(),
        "categories": await services.store.categories(), "active": "cases", "now": dt.datetime.now(dt.timezone.utc),
        "open_statuses": {s.value for s in OPEN_STATUSES}, **_vocab(request)})


async def _case_for(request: web.Request, number: str | None = None) -> Case:
    """The case, or 404; 403 when a department handler asks for another department's case."""
    return await request.app[SERVICES].store.get_for(request["actor"], number or request.match_info["number"])


async def _case_page(request: web.Request, case: Case, *, errors: dict | None = None, flash: str | None = None,
                     status: int = 200) -> web.Response:
    services = request.app[SERVICES]
    user = request["user"]
    role = Role(user.role)
    events = await services.store.events(case.id)
    if role is D:  # a conversation's service rating (old 'survey' events) is the hotline's, not the case's
        events = [e for e in events if e.action != "survey"]
    departments = await services.store.departments()
    async with services.db.read() as s:
        reminders = list((await s.execute(select(Reminder).where(Reminder.case_id == case.id)
                                          .order_by(Reminder.due_at.desc()))).scalars())
    actions = [a for a in allowed_actions(case.status, role) if a.code not in SPECIAL]
    can_dispatch = any(a.code in ("dispatch", "reopen") for a in allowed_actions(case.status, role))
    dept_names = {d.code: d.name for d in departments}
    suggested = suggest_departments(case, departments)
    return render(request, "desk_case.html", {
        "requests": await approvals.for_case(services.db, case.id), "request_kinds": _request_kinds(request),
        "service_ratings": await _service_ratings(services, case) if role in HOTLINE else [],
        "picker": suggested + [d for d in departments if d not in suggested],
        "case": case, "events": events, "attachments": await services.store.attachments(case.id),
        "actions": actions, "can_dispatch": can_dispatch, "departments": departments,
        "suggested": suggested, "dept_names": dept_names,
        "can_remind": "remind" in {a.code for a in allowed_actions(case.status, role)},
        "reminders": reminders, "errors": errors or {}, "flash": flash, "flash_kind": "error" if errors else "ok",
        "active": "cases", "history": [c for c in await services.store.cases_for_phone(case.contact_phone)
                                       if c.id != case.id] if case.contact_phone and role is not D else [],
        "hotline": role in HOTLINE, "now": dt.datetime.now(dt.timezone.utc),
        "category_options": await likely_categories(services, case) if role in HOTLINE else [],
        "can_correct": role in HOTLINE and case.status in (Status.REGISTERED.value, Status.RETURNED.value),
        "categories": await services.store.categories(),
        **await similar.case_context(request, case),
        **await telephony_context(request, case, events), **_vocab(request)}, status=status)


def _request_kinds(request: web.Request) -> dict:
    return {k: label(REQUEST_KINDS, k, request["locale"]) for k in REQUEST_KINDS}


async def _service_ratings(services, case: Case) -> list:
    """How the citizen rated the conversation that filed the case (the service, not the outcome)."""
    async with services.db.read() as s:
        conds = [ServiceRating.case_id == case.id]
        if case.conversation_id:
            conds.append(ServiceRating.conversation_id == case.conversation_id)
        return (await s.execute(select(ServiceRating, User.agent_no).outerjoin(User, User.id == ServiceRating.agent_id)
                                .where(or_(*conds)).order_by(ServiceRating.rated_at))).all()


async def likely_categories(services, case: Case) -> list:
    """Where the classifier filed a case without much confidence, its three most likely categories
    for the agent to choose from (nothing where a person chose the category)."""
    if case.category_confidence is None:  # a person chose (no import of the classifier's stack for it)
        return []
    from bot.classify import SHOW_ALTERNATIVES_BELOW, classifier_for

    if case.category_confidence >= SHOW_ALTERNATIVES_BELOW:
        return []
    guess = await classifier_for(services).guess(f"{case.title}\n{case.description}")
    return guess.alternatives if guess else []


@require_role()
async def case_page(request: web.Request) -> web.Response:
    t = translator(request["locale"])
    done = request.query.get("done", "")
    flash = None
    if done == "dissatisfied":
        flash = t("desk.followup.dissatisfied")
    elif done in ("corrected", "reminder_set", "attached"):
        flash = t(f"desk.case.{done}")
    elif done in similar.OPS:
        flash = t(f"desk.similar.done_{done}")
    elif done in ACTIONS:
        flash = t("desk.case.done", action=ACTIONS[done].label[1 if request["locale"] == "en" else 0])
    return await _case_page(request, await _case_for(request), flash=flash)


async def action_get(request: web.Request) -> web.Response:
    """A reload or a bookmark of the form's address: the case page (the action is POST only)."""
    raise web.HTTPSeeOther(f"/desk/cases/{request.match_info['number']}")


# where a form may send the agent back to after its action (a list it came from)
RETURN_TO = {"/desk/followup"}


@require_role()
async def case_action(request: web.Request) -> web.Response:
    """Do an action and answer with a redirect (POST-redirect-GET), so a reload shows the page again
    instead of doing the action twice; a form that failed is shown again with its errors."""
    case = await _case_for(request)
    form = await request.post()
    action = str(form.get("action", ""))
    services = request.app[SERVICES]
    t = translator(request["locale"])
    back = str(form.get("next", ""))
    try:
        if action == "correct" and Role(request["user"].role) in HOTLINE:
            case = await services.store.correct(case.number, request["actor"], category=form.get("category") or None,
                                                title=form.get("title"), location=form.get("location"))
        elif action in ("dispatch", "reopen"):
            case = await dispatch_case(services.store, case.number, request["actor"], _picked(form),
                                       str(form.get("comment", "")))
        elif action in ACTIONS:
            satisfaction = str(form.get("satisfaction") or "")
            if action == "follow_up" and satisfaction == UNREACHED:
                action = "follow_up_unreached"  # nobody answered: no rating, try again later
            uploads = [f for f in form.getall("file", []) if isinstance(f, web.FileField) and f.filename]
            if uploads and action != "reply":
                raise InvalidInput({"file": ("choice", {})})
            files = [read_upload(f, services.store.attachment_max_bytes) for f in uploads]
            case = await services.store.apply(
                case.number, action, request["actor"], channel="desk", comment=str(form.get("comment", "")),
                reply=str(form.get("reply", "")), department_code=form.get("department") or None,
                deadline=_local_datetime(request, str(form.get("deadline", "")), "deadline"),
                satisfaction=int(satisfaction) if satisfaction.isdigit() else None)
            for name, content_type, data in files:  # evidence of the reply, in the attachment store
                await services.store.add_attachment(case.id, kind="reply", filename=name, content_type=content_type,
                                                    data=data, actor=request["actor"], channel="desk")
        else:
            raise InvalidInput({"action": ("choice", {})})
    except InvalidInput as exc:
        if back in RETURN_TO:
            raise web.HTTPSeeOther(f"{back}?failed={case.number}")
        errors = field_errors(exc.errors, request["locale"])
        # the messages in the notice too: not every field has its place in the form (a pending request)
        return await _case_page(request, case, errors=errors, flash=" ".join([t("desk.case.not_done"), *errors.values()]),
                                status=400)
    done = ("corrected" if action == "correct" else
            "dissatisfied" if action == "follow_up" and case.satisfaction == 3 else action)
    if back in RETURN_TO:
        raise web.HTTPSeeOther(f"{back}?done={done}&case={case.number}")
    raise web.HTTPSeeOther(f"/desk/cases/{case.number}?done={done}")


def _picked(form) -> list[str]:
    """The departments ticked in the picker, the one marked as lead first."""
    codes = [str(c) for c in form.getall("department", [])]
    lead = str(form.get("lead", ""))
    return ([lead] if lead in codes else []) + [c for c in codes if c != lead]


# what a department may attach to its reply (photos, scans, documents): by name and declared type
ALLOWED_FILES = {".jpg": "image/", ".jpeg": "image/", ".png": "image/", ".gif": "image/", ".webp": "image/",
                 ".pdf": "application/pdf", ".doc": "application/", ".docx": "application/",
                 ".xls": "application/", ".xlsx": "application/", ".odt": "application/",
                 ".ods": "application/", ".txt": "text/plain", ".mp3": "audio/", ".wav": "audio/",
                 ".mp4": "video/"}


def read_upload(upload: web.FileField, max_bytes: int) -> tuple[str, str, bytes]:
    """(name, type, bytes) of an uploaded file, or InvalidInput naming what is wrong with it."""
    from pathlib import PurePath

    suffix = PurePath(upload.filename).suffix.lower()
    content_type = (upload.content_type or "application/octet-stream").lower()
    expected = ALLOWED_FILES.get(suffix)
    if expected is None or not (content_type.startswith(expected) or content_type == "application/octet-stream"):
        raise InvalidInput({"file": ("file_type", {"types": " ".join(sorted(ALLOWED_FILES))})})
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput({"file": ("too_large", {"max": max_bytes})})
    if not data:
        raise InvalidInput({"file": ("empty_file", {})})
    return upload.filename, content_type, data


@require_role()
async def set_reminder(request: web.Request) -> web.Response:
    case = await _case_for(request)
    form = await request.post()
    t = translator(request["locale"])
    try:
        due = _local_datetime(request, str(form.get("due_at", "")), "due_at")
    except InvalidInput:
        due = None
    if due is None:
        return await _case_page(request, case, errors={"due_at": t("errors.date", field=t("desk.case.remind_at"))},
                                flash=t("desk.case.not_done"), status=400)
    await request.app[REMINDERS].add_personal(case.id, request["user"].id, due,
                                              clean_text(form.get("note", ""), multiline=True)[:500])
    raise web.HTTPSeeOther(f"/desk/cases/{case.number}?done=reminder_set")


@require_role()
async def attachment(request: web.Request) -> web.StreamResponse:
    store = request.app[SERVICES].store
    case = await store.get(request.match_info["number"])
    try:
        store.check_permission(request["actor"], case)
    except Forbidden:  # a merged case's files belong to its master's handlers too (its page shows them)
        if not await similar.master_visible(request, case):
            raise
    att = next((a for a in await store.attachments(case.id) if str(a.id) == request.match_info["id"]), None)
    if att is None:
        raise web.HTTPNotFound()
    return web.FileResponse(store.attachment_path(att.sha256), headers={
        "Content-Type": att.content_type, "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(att.filename)}"})


def _quote(name: str) -> str:
    from urllib.parse import quote
    return quote(name, safe="")


@require_role(*HOTLINE)
async def add_attachment(request: web.Request) -> web.Response:
    case = await _case_for(request)
    form = await request.post()
    upload = form.get("file")
    t = translator(request["locale"])
    if not isinstance(upload, web.FileField):
        return await _case_page(request, case, errors={"file": t("errors.required", field=t("desk.case.file"))},
                                flash=t("desk.case.not_done"), status=400)
    try:
        await request.app[SERVICES].store.add_attachment(
            case.id, kind="scan", filename=upload.filename,
            content_type=upload.content_type or "application/octet-stream", data=upload.file.read(),
            actor=request["actor"], channel="desk")
    except InvalidInput as exc:  # too large: named on the page, nothing stored
        return await _case_page(request, case, errors=field_errors(exc.errors, request["locale"]),
                                flash=t("desk.case.not_done"), status=400)
    raise web.HTTPSeeOther(f"/desk/cases/{case.number}?done=attached")


# ---- intake ----------------------------------------------------------------------------------------
INTAKE_FIELDS = ("kind", "category", "title", "description", "location", "happened", "contact_name",
                 "contact_phone", "contact_email", "urgency", "channel", "answer", "outcome", "conversation_id")


async def _intake_page(request: web.Request, values: dict, errors: dict, status: int = 200) -> web.Response:
    services = request.app[SERVICES]
    phone = values.get("contact_phone", "")
    history = await services.store.cases_for_phone(phone) if phone else []
    probe = similar.Probe(phone=phone, email=values.get("contact_email", ""), location=values.get("location", ""),
                          text=f"{values.get('title', '')}\n{values.get('description', '')}",
                          category_code=values.get("category") or None)
    return render(request, "desk_intake.html", {
        "similar": await similar.intake_similar(request, probe), "intake": True, "can_link": True,
        "values": values, "errors": errors, "history": history, "categories": await services.store.categories(),
        "active": "intake", **_vocab(request)}, status=status)


@require_role(*HOTLINE)
async def intake_form(request: web.Request) -> web.Response:
    q = request.query
    values = {"kind": q.get("kind", "consultation"), "contact_phone": clean_text(q.get("phone", ""))[:40],
              "channel": q.get("channel", Channel.PHONE_AGENT.value), "wants_reply": True,
              "conversation_id": clean_text(q.get("conversation", ""))[:128]}
    return await _intake_page(request, values, {})


@require_role(*HOTLINE)
async def intake_submit(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    values = {name: str(form.get(name, "")) for name in INTAKE_FIELDS}
    values["wants_reply"] = form.get("wants_reply") == "1"
    values["anonymous"] = form.get("anonymous") == "1"
    t = translator(request["locale"])
    try:
        channel = Channel(values["channel"] or Channel.PHONE_AGENT.value)
        if channel in (Channel.WEB, Channel.WEBCHAT, Channel.PHONE_SELF):
            raise ValueError(channel)
    except ValueError:
        return await _intake_page(request, values, {"channel": t("errors.choice", field=t("fields.channel"))}, 400)
    answered = values["kind"] == Kind.CONSULTATION.value and values["outcome"] == "answered"
    errors = {}
    if answered and not clean_text(values["answer"], multiline=True):
        errors["answer"] = t("errors.required", field=t("desk.intake.answer"))
    upload = form.get("scan")
    if not values.get("category") and clean_text(values.get("description", ""), multiline=True):
        from bot.classify import category_fields  # the agent left it open: the classifier files it
        values = {**values, **await category_fields(services, f"{values.get('title', '')}\n{values['description']}")}
    try:
        inp = validate_case(values, channel=channel, known_categories=await services.store.category_codes(),
                            allow_urgent=True)
    except InvalidInput as exc:
        errors.update(field_errors(exc.errors, request["locale"]))
    if errors:
        return await _intake_page(request, values, errors, 400)
    inp.extra = {"intake": request["user"].username}
    target = str(form.get("supplement_to", ""))
    if target:  # the agent found the caller's open case about this: the call is added to it
        return await _supplement_intake(request, target, inp, upload, values)
    case, password = await services.store.create_case(inp, request["actor"])
    await _scan_and_conversation(request, case, inp, upload)
    if answered:
        case = await services.store.apply(case.number, "answer", request["actor"], channel=channel.value,
                                          reply=values["answer"])
    return await _case_page(request, await services.store.get(case.number),
                            flash=t("desk.intake.created", number=case.number, password=password))


async def _scan_and_conversation(request: web.Request, case, inp, upload) -> None:
    """What an intake brings besides its words: the scan, and the chat it came from."""
    services = request.app[SERVICES]
    if isinstance(upload, web.FileField) and upload.filename:
        await services.store.add_attachment(case.id, kind="scan", filename=upload.filename,
                                            content_type=upload.content_type or "application/octet-stream",
                                            data=upload.file.read(), actor=request["actor"], channel="desk")
    if inp.conversation_id:
        from cases.conversations import ConversationLog
        await ConversationLog(services.db).add_case(inp.conversation_id, "webchat", case.number)


async def _supplement_intake(request: web.Request, number: str, inp, upload, values: dict) -> web.Response:
    """The intake added to an open case (补充到此工单) as the citizen's words, with its scan; the
    case page answers. A case that is no longer open takes nothing: the form comes back."""
    from cases import case_links

    services = request.app[SERVICES]
    t = translator(request["locale"])
    case = await _case_for(request, number)
    if await case_links.add_intake_to(services.store, case, inp, by=request["user"].username) is None:
        return await _intake_page(request, values, {"supplement_to": t("desk.similar.not_open", number=number)}, 409)
    await _scan_and_conversation(request, case, inp, upload)
    return await _case_page(request, await services.store.get(case.number),
                            flash=t("desk.similar.supplemented", number=case.number))


@require_role(*HOTLINE)
async def history_api(request: web.Request) -> web.Response:
    """The caller's earlier cases, as soon as the agent has typed the number (HTML fragment)."""
    phone = clean_text(request.query.get("phone", ""))[:40]
    history = await request.app[SERVICES].store.cases_for_phone(phone) if len(phone) >= 5 else []
    return render(request, "desk_history.html", {"history": history})


@require_role(*HOTLINE)
async def references_api(request: web.Request) -> web.Response:
    """Knowledge articles and similar past cases for a consultation's question."""
    question = clean_text(request.query.get("q", ""))[:200]
    services = request.app[SERVICES]
    if len(question) < 2:
        return json_response({"articles": [], "cases": []})
    from bot.knowledge import KnowledgeBase

    kb = request.app.get(KB)
    if kb is None:
        kb = request.app[KB] = KnowledgeBase(KnowledgeRepository(services.db))
    articles = await kb.search(question, 3)
    words = await asyncio.get_running_loop().run_in_executor(None, _keywords, question)
    similar, _ = await services.store.search(CaseFilter(text=words[0], statuses=[Status.ANSWERED.value,
                                                                                Status.REPLIED.value,
                                                                                Status.FOLLOWED_UP.value,
                                                                                Status.CLOSED.value]), limit=5)
    return json_response({
        "articles": [{"question": a.question, "answer": a.answer, "confidence": round(a.confidence, 2)} for a in articles],
        "cases": [{"number": c.number, "title": c.title, "reply": c.reply[:300]} for c in similar]})


KB = web.AppKey("desk_kb", object)


def _keywords(question: str) -> list[str]:
    """The question's longest word (jieba's segmentation): what similar cases most likely share."""
    import jieba

    tokens = jieba.lcut(question)
    words = sorted({w for w in tokens if len(w.strip()) >= 2 and w not in QUESTION_WORDS},
                   key=lambda w: (-len(w), tokens.index(w)))
    return words[:1] or [question[:6]]


# how people ask, not what they ask about
QUESTION_WORDS = frozenset("怎么办 怎么样 怎么 如何 什么 为什么 哪里 哪些 可以 需要 请问 一下 我们 你们 他们 "
                           "现在 还是 是否 能否 能不能 有没有".split())


# ---- follow-up and reminders --------------------------------------------------------------------------
@require_role(*HOTLINE)
async def followup_list(request: web.Request) -> web.Response:
    """Cases to call back (已办结, 当场答复), with the calls that reached nobody so far; recording a
    result comes back here (the agent keeps the list), an unreached call keeps the case on it."""
    services = request.app[SERVICES]
    rows, total = await services.store.search(CaseFilter(statuses=[Status.REPLIED.value, Status.ANSWERED.value]),
                                              limit=100)
    attempts: dict[int, tuple[int, dt.datetime]] = {}
    if rows:
        async with services.db.read() as s:
            for case_id, n, last in (await s.execute(
                    select(CaseEvent.case_id, func.count(), func.max(CaseEvent.at))
                    .where(CaseEvent.case_id.in_([c.id for c in rows]), CaseEvent.action == "follow_up_unreached")
                    .group_by(CaseEvent.case_id))).all():
                attempts[case_id] = (n, last.replace(tzinfo=dt.timezone.utc) if last.tzinfo is None else last)
    t = translator(request["locale"])
    q = request.query
    flash, kind = None, "ok"
    if q.get("failed", "").isdigit():
        flash, kind = t("desk.followup.failed", number=q["failed"]), "error"
    elif q.get("case", "").isdigit() and q.get("done") in ("follow_up", "dissatisfied", "follow_up_unreached"):
        flash = t(f"desk.followup.recorded_{q['done']}", number=q["case"])
    return render(request, "desk_followup.html", {"cases": rows, "total": total, "active": "followup",
                                                   "attempts": attempts, "flash": flash, "flash_kind": kind,
                                                   "departments": await services.store.departments(),
                                                   **_vocab(request)})


@require_role()
async def reminder_list(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    user = request["user"]
    now = dt.datetime.now(dt.timezone.utc)
    scope = _department_scope(user)
    horizon = now + dt.timedelta(hours=max(parse_thresholds(services.settings.reminder_thresholds_h)))
    async with services.db.read() as s:
        q = select_cases().where(Case.status.in_([x.value for x in OPEN_STATUSES]), Case.deadline.isnot(None),
                                 Case.deadline <= horizon).order_by(Case.deadline).limit(300)
        if scope is not None:
            q = q.where(Case.department_id == scope)
        due = list((await s.execute(q)).scalars())
        rq = (select(Reminder, Case.number, Case.title).join(Case, Case.id == Reminder.case_id)
              .order_by(Reminder.due_at.desc()).limit(100))
        if scope is not None:
            rq = rq.where(Case.department_id == scope)
        elif Role(user.role) is A:
            rq = rq.where((Reminder.kind != "personal") | (Reminder.created_by == user.id))
        recent = (await s.execute(rq)).all()
    return render(request, "desk_reminders.html", {
        "overdue": [c for c in due if c.deadline <= now], "approaching": [c for c in due if c.deadline > now],
        "recent": recent, "active": "reminders", "now": now})


async def _notify(app: web.Application, notice: Notice) -> None:
    """A reminder fired: tell the desks, and mail the department where mail is configured."""
    live = app[LIVE]
    t = translator("zh")
    text = t(f"desk.reminders.notice_{'personal' if notice.stage == 'personal' else 'overdue' if notice.stage == 'overdue' else 'before'}",
             number=notice.number, title=notice.title)
    await live.publish({"t": "reminder", "case": notice.number, "text": text, "user_id": notice.user_id})
    settings = app[SERVICES].settings
    if notice.stage != "personal" and settings.smtp_url and notice.department_id:
        async with app[SERVICES].db.read() as s:
            dept = await s.get(Department, notice.department_id)
        if dept is not None and dept.email:
            from .notify import send_mail
            await send_mail(settings, dept.email, text, t("desk.reminders.mail_body", number=notice.number,
                                                          title=notice.title, url=f"{settings.base_url}/desk/cases/{notice.number}"))


async def start_reminders(app: web.Application) -> None:
    settings = app[SERVICES].settings
    scheduler = ReminderScheduler(app[SERVICES].db, thresholds_h=parse_thresholds(settings.reminder_thresholds_h),
                                  interval_s=settings.reminder_interval_s,
                                  notify=lambda notice: _notify(app, notice))
    app[REMINDERS] = scheduler
    if settings.reminder_interval_s > 0:
        scheduler.start()


async def stop_reminders(app: web.Application) -> None:
    if REMINDERS in app:
        await app[REMINDERS].stop()


# ---- printing -------------------------------------------------------------------------------------------
DOCUMENTS = ("sheet", "dispatch", "notice")


async def _document_context(request: web.Request) -> dict:
    case = await _case_for(request)
    doc = request.match_info.get("doc", "sheet")
    if doc not in DOCUMENTS:
        raise web.HTTPNotFound()
    services = request.app[SERVICES]
    events = await services.store.events(case.id)
    dispatch_event = next((e for e in reversed(events) if e.action in ("dispatch", "reopen")), None)
    co = (dispatch_event.data or {}).get("co_departments", []) if dispatch_event else []
    names = {d.code: d.name for d in await services.store.departments()}
    return {"case": case, "events": events, "doc": doc, "dispatch_event": dispatch_event,
            "co_departments": [names.get(c, c) for c in co], "printed_at": dt.datetime.now(dt.timezone.utc),
            **_vocab(request)}


@require_role()
async def print_page(request: web.Request) -> web.Response:
    return render(request, "desk_print.html", await _document_context(request))


@require_role()
async def print_pdf(request: web.Request) -> web.Response:
    import aiohttp_jinja2

    context = await _document_context(request)
    html = aiohttp_jinja2.render_string("desk_print.html", request, {**context, "pdf": True})
    base = str(request.app[SERVICES].settings.base_url)
    pdf = await asyncio.get_running_loop().run_in_executor(None, _html_to_pdf, html, base)
    name = f"{context['case'].number}-{context['doc']}.pdf"
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


def _html_to_pdf(html: str, base_url: str) -> bytes:
    from pathlib import Path

    import weasyprint

    css = weasyprint.CSS(filename=str(Path(__file__).parent / "static" / "print.css"))
    return weasyprint.HTML(string=html, base_url=base_url).write_pdf(stylesheets=[css])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/desk/cases", case_list)
    r.add_get("/desk/cases/{number:\\d+}", case_page)
    r.add_post("/desk/cases/{number:\\d+}/action", case_action)
    r.add_get("/desk/cases/{number:\\d+}/action", action_get)
    r.add_post("/desk/cases/{number:\\d+}/reminder", set_reminder)
    r.add_post("/desk/cases/{number:\\d+}/attachments", add_attachment)
    r.add_get("/desk/cases/{number:\\d+}/attachments/{id:\\d+}", attachment)
    r.add_get("/desk/cases/{number:\\d+}/print/{doc:sheet|dispatch|notice}.pdf", print_pdf)
    r.add_get("/desk/cases/{number:\\d+}/print/{doc:sheet|dispatch|notice}", print_page)
    r.add_get("/desk/intake", intake_form)
    r.add_post("/desk/intake", intake_submit)
    r.add_get("/desk/api/history", history_api)
    r.add_get("/desk/api/references", references_api)
    r.add_get("/desk/followup", followup_list)
    r.add_get("/desk/reminders", reminder_list)
