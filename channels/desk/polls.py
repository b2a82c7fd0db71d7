"""The poll editor in data maintenance (admins only): a poll, its questions in order and each
question's answer options (keypad key, wording, spoken synonyms); activating one poll (the bot's poll
action asks the active one, so activating a poll retires the one active before); copying a poll.

A poll that has answers keeps its questions and options as they were answered (the answers point
at them): its title and introduction may still change, and "copy" starts a new poll from it.
Every change is a data_changes row written in the same transaction.
"""
from __future__ import annotations

import re

from aiohttp import web
from sqlalchemy import func, select

from cases.intake import clean_text
from cases.models import Poll, PollQuestion, PollResponse
from cases.workflow import Role
from hotline.i18n import translator
from hotline.web.keys import SERVICES

from .admin import TABS
from .auth import require_role
from .changes import changes_of, record_change
from .pages import render

ENTITY = "polls"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
BLANK_QUESTIONS = 2          # empty question blocks offered under the existing ones
MAX_OPTIONS = 10             # one per keypad digit


def line(value) -> str:
    """One line of Chinese text as typed: NFC only (clean_text's NFKC would turn ？ and （） into ASCII)."""
    return " ".join(clean_text(value, multiline=True).split())


def record(session, request: web.Request, key, action: str, data: dict | None = None) -> None:
    record_change(session, request, ENTITY, key, action, data)


def options_text(options: list[dict]) -> str:
    """Options as the editor shows them: one a line, "key wording | synonym，synonym"."""
    lines = []
    for o in options:
        shown = f"{o['key']} {o['text']}"
        if o.get("synonyms"):
            shown += " | " + "，".join(o["synonyms"])
        lines.append(shown)
    return "\n".join(lines)


def parse_options(raw: str, t, where: str) -> tuple[list[dict], list[str]]:
    options, errors, keys = [], [], set()
    for n, typed in enumerate((x.strip() for x in raw.splitlines()), 1):
        if not typed:
            continue
        head, _, synonyms = typed.replace("｜", "|").partition("|")
        parts = head.split(maxsplit=1)
        key, text = (parts + [""])[:2]
        text = text.strip()
        if not re.fullmatch(r"[0-9]", key):
            errors.append(t("desk.polls.bad_key", where=where, line=n))
        elif key in keys:
            errors.append(t("desk.polls.duplicate_key", where=where, digit=key))
        elif not text:
            errors.append(t("desk.polls.no_option_text", where=where, line=n))
        elif len(text) > 50:
            errors.append(t("desk.polls.option_too_long", where=where, line=n, max=50))
        keys.add(key)
        words = [w.strip() for w in re.split(r"[,，、]", synonyms) if w.strip()]
        options.append({"key": key, "text": text, "synonyms": words})
    if not errors and not 2 <= len(options) <= MAX_OPTIONS:
        errors.append(t("desk.polls.option_count", where=where, max=MAX_OPTIONS))
    return options, errors


def parse_questions(form, t) -> tuple[list[dict], list[str], list[dict]]:
    """(questions in order, errors, the blocks as typed for showing the form again)."""
    slots = sorted({int(m.group(1)) for k in form for m in [re.fullmatch(r"q(\d+)_text", k)] if m})
    blocks, errors = [], []
    for slot in slots:
        text = line(form.get(f"q{slot}_text", ""))
        raw_options = clean_text(form.get(f"q{slot}_options", ""), multiline=True)
        raw_position = clean_text(form.get(f"q{slot}_position", ""))
        blocks.append({"slot": slot, "text": text, "options": raw_options, "position": raw_position})
    questions = []
    for n, b in enumerate(blocks, 1):
        if not b["text"] and not b["options"]:
            continue  # an empty block: a question left out (or removed)
        where = t("desk.polls.question_n", n=n)
        if not b["text"]:
            errors.append(t("desk.polls.no_question_text", where=where))
        elif len(b["text"]) > 300:
            errors.append(t("errors.too_long", field=where, max=300))
        try:
            position = int(b["position"]) if b["position"] else n
        except ValueError:
            errors.append(t("desk.admin.bad_number", field=where + t("desk.polls.position")))
            position = n
        options, option_errors = parse_options(b["options"], t, where)
        errors += option_errors
        questions.append({"text": b["text"], "options": options, "position": position, "slot": b["slot"]})
    questions.sort(key=lambda q: (q["position"], q["slot"]))
    return questions, errors, blocks


def parse_poll(form, t, *, creating: bool) -> tuple[dict, list[str]]:
    values = {name: line(form.get(name, "")) for name in ("slug", "title", "title_en")}
    values["intro"] = clean_text(form.get("intro", ""), multiline=True)
    errors = []
    if not values["slug"]:
        errors.append(t("errors.required", field=t("desk.admin.f.slug")))
    elif not SLUG.fullmatch(values["slug"]):
        errors.append(t("desk.polls.bad_slug"))
    if not values["title"]:
        errors.append(t("errors.required", field=t("desk.admin.f.title")))
    for name, most in (("title", 200), ("title_en", 200), ("intro", 2000)):
        if len(values[name]) > most:
            errors.append(t("errors.too_long", field=t(f"desk.admin.f.{name}"), max=most))
    return values, errors


async def _poll(session, poll_id: int) -> Poll:
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise web.HTTPNotFound()
    return poll


async def _answered(session, poll_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(PollResponse)
                                  .where(PollResponse.poll_id == poll_id))).scalar()


def _poll_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPNotFound()
    return int(raw)


async def _editor(request: web.Request, poll: Poll | None, *, values=None, blocks=None, errors=None,
                  status: int = 200, flash: str | None = None) -> web.Response:
    async with request.app[SERVICES].db.read() as s:
        answered = await _answered(s, poll.id) if poll is not None else 0
        history = await changes_of(s, ENTITY, poll.id) if poll is not None else []
    if values is None:
        values = {n: getattr(poll, n) for n in ("slug", "title", "title_en", "intro")} if poll else {}
    if blocks is None:
        blocks = [{"slot": i, "text": q.text, "options": options_text(q.options), "position": str(i + 1)}
                  for i, q in enumerate(poll.questions)] if poll else []
        blocks += [{"slot": len(blocks) + i, "text": "", "options": "", "position": ""} for i in range(BLANK_QUESTIONS)]
    return render(request, "desk_admin_poll.html", {
        "poll": poll, "values": values, "blocks": blocks, "answered": answered, "history": history,
        "errors": errors or [], "active": "admin", "tab": ENTITY, "admin_tabs": TABS, "flash": flash,
        "flash_kind": "error" if errors else "ok"}, status=status)


@require_role(Role.ADMIN)
async def poll_list(request: web.Request) -> web.Response:
    async with request.app[SERVICES].db.read() as s:
        polls = list((await s.execute(select(Poll).order_by(Poll.active.desc(), Poll.id))).scalars())
        answered = dict((await s.execute(select(PollResponse.poll_id, func.count())
                                         .group_by(PollResponse.poll_id))).all())
    return render(request, "desk_admin_polls.html", {"polls": polls, "answered": answered, "active": "admin",
                                                     "tab": ENTITY, "admin_tabs": TABS})


@require_role(Role.ADMIN)
async def new_poll(request: web.Request) -> web.Response:
    return await _editor(request, None)


@require_role(Role.ADMIN)
async def edit_poll(request: web.Request) -> web.Response:
    async with request.app[SERVICES].db.read() as s:
        poll = await _poll(s, _poll_id(request))
    return await _editor(request, poll)


@require_role(Role.ADMIN)
async def save_poll(request: web.Request) -> web.Response:
    """Create (/desk/admin/polls/new) or change a poll with its questions; bad input changes nothing."""
    t = translator(request["locale"])
    form = await request.post()
    creating = request.match_info.get("id") is None
    services = request.app[SERVICES]
    poll = None
    if not creating:
        async with services.db.read() as s:
            poll = await _poll(s, _poll_id(request))
            locked = await _answered(s, poll.id) > 0
    else:
        locked = False
    values, errors = parse_poll(form, t, creating=creating)
    questions, question_errors, blocks = parse_questions(form, t) if not locked else ([], [], None)
    errors += question_errors
    if not locked and not questions and not errors:
        errors.append(t("desk.polls.no_questions"))
    if not errors:
        async with services.db.read() as s:
            other = (await s.execute(select(Poll.id).where(Poll.slug == values["slug"]))).scalar()
        if other is not None and (creating or other != poll.id):
            errors.append(t("desk.polls.slug_taken"))
    if errors:
        return await _editor(request, poll, values=values, blocks=blocks, errors=errors, status=400,
                             flash=t("desk.case.not_done"))
    async with services.db.write() as s:
        if creating:
            row = Poll(active=False, **values)
            s.add(row)
        else:
            row = await _poll(s, poll.id)
            if not locked and await _answered(s, row.id):  # answered meanwhile: keep its questions
                return await _editor(request, poll, values=values, errors=[t("desk.polls.locked")], status=409)
        changed = sorted(n for n, v in values.items() if creating or getattr(row, n) != v)
        for name, value in values.items():
            setattr(row, name, value)
        data = {"fields": changed}
        if not locked:
            new = [(q["text"], q["options"]) for q in questions]
            if creating or new != [(q.text, q.options) for q in row.questions]:
                row.questions = [PollQuestion(position=i, text=text, options=options)
                                 for i, (text, options) in enumerate(new)]
                data["questions"] = [text for text, _ in new]
        await s.flush()
        record(s, request, row.id, "create" if creating else "update", data)
    raise web.HTTPFound(f"/desk/admin/polls/{row.id}")


@require_role(Role.ADMIN)
async def set_active(request: web.Request) -> web.Response:
    """Activate a poll (the one active before is deactivated in the same transaction) or deactivate it."""
    t = translator(request["locale"])
    activate = request.match_info["op"] == "activate"
    async with request.app[SERVICES].db.write() as s:
        # every poll row locked first: two admins activating two polls at once end with one active
        polls = {p.id: p for p in (await s.execute(select(Poll).with_for_update())).scalars()}
        poll = polls.get(_poll_id(request))
        if poll is None:
            raise web.HTTPNotFound()
        if activate and not poll.questions:
            return await _editor(request, poll, errors=[t("desk.polls.no_questions")], status=400)
        retired = [p for p in polls.values() if p.active and p.id != poll.id] if activate else []
        for p in retired:
            record(s, request, p.id, "deactivate", {"because": poll.slug})
        for p in retired:
            p.active = False
        poll.active = activate
        record(s, request, poll.id, "activate" if activate else "deactivate",
               {"retired": [p.slug for p in retired]} if activate else {})
    flash = t("desk.polls.activated" if activate else "desk.polls.deactivated")
    if retired:
        flash += t("desk.polls.retired", titles="、".join(p.title for p in retired))
    async with request.app[SERVICES].db.read() as s:
        poll = await _poll(s, poll.id)
    return await _editor(request, poll, flash=flash)


@require_role(Role.ADMIN)
async def copy_poll(request: web.Request) -> web.Response:
    """A new, inactive poll with the same questions (a poll that has answers keeps its own)."""
    async with request.app[SERVICES].db.write() as s:
        source = await _poll(s, _poll_id(request))
        slugs = set((await s.execute(select(Poll.slug))).scalars())
        n = 2
        while f"{source.slug[:70]}-{n}" in slugs:
            n += 1
        copy = Poll(slug=f"{source.slug[:70]}-{n}", title=source.title, title_en=source.title_en,
                    intro=source.intro, active=False,
                    questions=[PollQuestion(position=q.position, text=q.text, options=q.options)
                               for q in source.questions])
        s.add(copy)
        await s.flush()
        record(s, request, copy.id, "copy", {"from": source.slug})
    raise web.HTTPFound(f"/desk/admin/polls/{copy.id}")


def add_routes(app: web.Application) -> None:
    """Registered before data maintenance's generic /desk/admin/{entity} routes, which they shadow."""
    r = app.router
    r.add_get("/desk/admin/polls", poll_list)
    r.add_get("/desk/admin/polls/new", new_poll)
    r.add_post("/desk/admin/polls/new", save_poll)
    r.add_get("/desk/admin/polls/{id}", edit_poll)
    r.add_post("/desk/admin/polls/{id}", save_poll)
    r.add_post("/desk/admin/polls/{id}/{op:activate|deactivate}", set_active)
    r.add_post("/desk/admin/polls/{id}/copy", copy_poll)
