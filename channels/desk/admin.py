"""Data maintenance (admins only): departments and their contacts, the category taxonomy, users and
roles, knowledge articles, holidays and working weekends, deadline rules; polls have an editor of
their own (polls.py: questions and options in order). Every change is recorded (changes.py).

One table-driven set of screens: each entity names its model and its fields; values are checked
on the server (required, length, number, date, choice, uniqueness) and a bad value changes nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web
from sqlalchemy import inspect as sa_inspect, select
from sqlalchemy.exc import IntegrityError

from cases.accounts import MIN_PASSWORD
from cases.intake import clean_text
from cases.models import (CalendarDay, Category, DeadlineRule, Department, KnowledgeArticle, Leader, User,
                          utcnow)
from cases.workflow import KIND_LABELS, ROLE_LABELS, Kind, Role, label
from hotline.i18n import translator
from hotline.web.keys import SERVICES

from .auth import require_role
from .changes import record_change
from .pages import render

log = logging.getLogger("hotline.desk.admin")


@dataclass
class Field:
    name: str
    kind: str = "str"           # str | text | int | bool | list | date | choice | password | phone
    required: bool = False
    max_len: int = 200
    choices: Callable | None = None   # async (request) -> [(value, label)]
    create_only: bool = False
    in_list: bool = True


@dataclass
class Entity:
    key: str
    model: Any
    fields: list[Field]
    order_by: Any
    deletable: bool = False      # otherwise "active" is the way to retire a row (cases refer to it)
    reload_calendar: bool = False
    extra: dict = field(default_factory=dict)


async def _departments(request):
    return [(str(d.id), d.name) for d in await request.app[SERVICES].store.departments()]


async def _parents(request):
    async with request.app[SERVICES].db.read() as s:
        rows = (await s.execute(select(Category).where(Category.parent_id.is_(None)).order_by(Category.position))).scalars()
        return [(str(c.id), f"{c.code} {c.name}") for c in rows]


async def _categories(request):
    return [(str(c.id), f"{c.code} {c.name}") for c in await request.app[SERVICES].store.categories()]


async def _roles(request):
    return [(r.value, label(ROLE_LABELS, r, request["locale"])) for r in Role]


async def _locales(request):
    """The languages the bot answers in: a knowledge article answers citizens who write in its own."""
    from bot.turns import LOCALES
    from hotline.i18n import translator

    return [(code, translator(request["locale"])(f"desk.admin.locale_{code}")) for code in LOCALES]


async def _rule_kinds(request):
    from hotline.i18n import translator  # the key 'urgent' is the rule of every urgent case, whatever its kind

    return [(k.value, label(KIND_LABELS, k, request["locale"])) for k in Kind] + [
        ("urgent", translator(request["locale"])("desk.admin.urgent_rule"))]


ENTITIES: dict[str, Entity] = {e.key: e for e in [
    Entity("departments", Department, [
        Field("code", required=True, max_len=32), Field("name", required=True, max_len=100),
        Field("name_en", in_list=False), Field("phone", max_len=40), Field("email"),
        Field("category_codes", "list", in_list=False), Field("active", "bool")], Department.id),
    Entity("categories", Category, [
        Field("code", required=True, max_len=64), Field("name", required=True, max_len=100),
        Field("name_en", in_list=False), Field("parent_id", "choice", choices=_parents),
        Field("keywords", "list", in_list=False), Field("position", "int"), Field("active", "bool")],
        Category.position),
    Entity("users", User, [
        Field("username", required=True, max_len=64, create_only=True), Field("display_name", max_len=100),
        Field("agent_no", max_len=16), Field("role", "choice", required=True, choices=_roles),
        Field("department_id", "choice", choices=_departments), Field("active", "bool"),
        Field("password", "password", in_list=False)], User.username),
    Entity("knowledge", KnowledgeArticle, [
        Field("slug", required=True, max_len=80), Field("category_id", "choice", choices=_categories, in_list=False),
        Field("question", required=True, max_len=300), Field("alternates", "list", in_list=False),
        Field("keywords", "list", in_list=False), Field("answer", "text", required=True, max_len=5000, in_list=False),
        Field("locale", "choice", required=True, choices=_locales), Field("active", "bool")], KnowledgeArticle.slug),
    Entity("holidays", CalendarDay, [
        Field("day", "date", required=True, create_only=True), Field("working", "bool"), Field("name", max_len=64)],
        CalendarDay.day.desc(), deletable=True, reload_calendar=True),
    Entity("deadlines", DeadlineRule, [
        Field("kind", "choice", required=True, choices=_rule_kinds, create_only=True),
        Field("working_days", "int", required=True)], DeadlineRule.kind, deletable=True, reload_calendar=True),
    # the protected leaders' list for transfers (转接): only admins see these numbers
    Entity("leaders", Leader, [
        Field("name", required=True, max_len=100), Field("title", max_len=100),
        Field("phone", "phone", required=True, max_len=40), Field("position", "int"), Field("active", "bool")],
        Leader.position, deletable=True),
]}


# the tabs of data maintenance, in order ("polls" is polls.py's editor)
TABS = ["departments", "categories", "users", "knowledge", "polls", "holidays", "deadlines", "leaders"]


def _entity(request: web.Request) -> Entity:
    entity = ENTITIES.get(request.match_info["entity"])
    if entity is None:
        raise web.HTTPNotFound()
    return entity


def _pk(entity: Entity):
    return sa_inspect(entity.model).primary_key[0]


def _parse_pk(entity: Entity, raw: str):
    col = _pk(entity)
    try:
        if col.type.python_type is int:
            return int(raw)
        if col.type.python_type is dt.date:
            return dt.date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPNotFound() from None
    return raw


def _display(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if value is None:
        return ""
    return str(value)


async def _choices(request, entity: Entity) -> dict:
    return {f.name: await f.choices(request) for f in entity.fields if f.choices}


def _parse(request: web.Request, entity: Entity, form, *, creating: bool) -> tuple[dict, dict]:
    t = translator(request["locale"])
    values, errors = {}, {}
    for f in entity.fields:
        if f.create_only and not creating:
            continue
        name = t(f"desk.admin.f.{f.name}")
        raw = form.get(f.name, "")
        if f.kind == "bool":
            values[f.name] = raw == "1"
            continue
        raw = clean_text(raw, multiline=f.kind == "text")
        if f.kind == "password":
            if raw and len(raw) < MIN_PASSWORD:
                errors[f.name] = t("errors.too_short", field=name, min=MIN_PASSWORD)
            elif not raw and creating:
                errors[f.name] = t("errors.required", field=name)
            values[f.name] = raw
            continue
        if not raw:
            if f.required:
                errors[f.name] = t("errors.required", field=name)
            values[f.name] = [] if f.kind == "list" else None if f.kind in ("int", "date", "choice") else ""
            continue
        if len(raw) > f.max_len:
            errors[f.name] = t("errors.too_long", field=name, max=f.max_len)
        elif f.kind == "int":
            try:
                values[f.name] = int(raw)
                if values[f.name] < 0:
                    raise ValueError
            except ValueError:
                errors[f.name] = t("desk.admin.bad_number", field=name)
        elif f.kind == "date":
            try:
                values[f.name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[f.name] = t("errors.date", field=name)
        elif f.kind == "phone":  # a number the PBX will dial: digits (spaces and dashes dropped), + first
            from .telephony import dialable

            if dialable(raw):
                values[f.name] = dialable(raw)
            else:
                errors[f.name] = t("desk.transfer.bad_number")
        elif f.kind == "list":
            values[f.name] = [x.strip() for x in raw.replace("，", ",").replace("\n", ",").split(",") if x.strip()]
        else:
            values[f.name] = raw
    return values, errors


async def _validate_choices(request, entity: Entity, values: dict, errors: dict) -> None:
    t = translator(request["locale"])
    for f in entity.fields:
        if f.choices and values.get(f.name) is not None and f.name not in errors:
            allowed = {v for v, _ in await f.choices(request)}
            if str(values[f.name]) not in allowed:
                errors[f.name] = t("errors.choice", field=t(f"desk.admin.f.{f.name}"))
            elif f.name.endswith("_id"):
                values[f.name] = int(values[f.name])


async def _page(request, entity: Entity, *, row=None, values=None, errors=None, status=200, flash=None):
    async with request.app[SERVICES].db.read() as s:
        rows = list((await s.execute(select(entity.model).order_by(entity.order_by).limit(1000))).scalars())
    pk = _pk(entity).name
    return render(request, "desk_admin.html", {
        "entity": entity, "admin_tabs": TABS, "rows": rows, "pk": pk, "row": row,
        "values": values if values is not None else ({f.name: _display(getattr(row, f.name, "")) for f in entity.fields
                                                      if f.kind != "password"} if row is not None
                                                     else {"active": True, "locale": "zh"}),  # a new row's defaults
        "errors": errors or {}, "choices": await _choices(request, entity), "display": _display,
        "active": "admin", "flash": flash, "flash_kind": "error" if errors else "ok"}, status=status)


@require_role(Role.ADMIN)
async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/desk/admin/departments")


@require_role(Role.ADMIN)
async def list_page(request: web.Request) -> web.Response:
    return await _page(request, _entity(request))


@require_role(Role.ADMIN)
async def edit_page(request: web.Request) -> web.Response:
    entity = _entity(request)
    async with request.app[SERVICES].db.read() as s:
        row = await s.get(entity.model, _parse_pk(entity, request.match_info["id"]))
    if row is None:
        raise web.HTTPNotFound()
    return await _page(request, entity, row=row)


async def _after_change(request, entity: Entity) -> None:
    services = request.app[SERVICES]
    if entity.reload_calendar:
        await services.store.reload_calendar()
    if entity.model is Category:
        services.store.forget_reference_data()
    log.info("data maintenance", extra={"fields": {"entity": entity.key, "by": request["user"].username}})


@require_role(Role.ADMIN)
async def save(request: web.Request) -> web.Response:
    entity = _entity(request)
    services = request.app[SERVICES]
    form = await request.post()
    key = request.match_info.get("id")
    creating = key is None
    values, errors = _parse(request, entity, form, creating=creating)
    await _validate_choices(request, entity, values, errors)
    t = translator(request["locale"])
    if entity.model is User and values.get("role") == Role.DEPARTMENT.value and not values.get("department_id"):
        errors["department_id"] = t("errors.required", field=t("desk.admin.f.department_id"))
    row = None
    if not creating:
        async with services.db.read() as s:
            row = await s.get(entity.model, _parse_pk(entity, key))
        if row is None:
            raise web.HTTPNotFound()
    if errors:
        return await _page(request, entity, row=row, values={k: _display(v) for k, v in values.items()} | dict(
            (f.name, form.get(f.name, "")) for f in entity.fields if f.kind != "password"), errors=errors, status=400,
            flash=t("desk.case.not_done"))
    password = values.pop("password", None)
    before: dict = {}  # the row's values before the change, for its record
    try:
        async with services.db.write() as s:
            if creating:
                row = entity.model(**values)
                if entity.model is User:
                    row.password_hash = await services.accounts.hasher.hash(password)
                    row.display_name = row.display_name or row.username
                s.add(row)
            else:
                row = await s.get(entity.model, _parse_pk(entity, key))
                before = {name: getattr(row, name) for name in values}
                for name, value in values.items():
                    setattr(row, name, value)
                if entity.model is User and password:
                    row.password_hash = await services.accounts.hasher.hash(password)
                if entity.model is KnowledgeArticle:
                    row.updated_at = utcnow()
            await s.flush()
            fields = sorted(n for n in values if creating or _display(before[n]) != _display(values[n]))
            record_change(s, request, entity.key, getattr(row, _pk(entity).name), "create" if creating else "update",
                          {"fields": fields + (["password"] if password else [])})  # names only: no secrets
    except IntegrityError:
        return await _page(request, entity, row=None if creating else row, values={k: _display(v) for k, v in values.items()},
                           errors={"_": t("desk.admin.duplicate")}, status=409, flash=t("desk.admin.duplicate"))
    await _after_change(request, entity)
    raise web.HTTPFound(f"/desk/admin/{entity.key}")


@require_role(Role.ADMIN)
async def delete_row(request: web.Request) -> web.Response:
    entity = _entity(request)
    if not entity.deletable:
        raise web.HTTPMethodNotAllowed("POST", [])
    async with request.app[SERVICES].db.write() as s:
        row = await s.get(entity.model, _parse_pk(entity, request.match_info["id"]))
        if row is not None:
            await s.delete(row)
            record_change(s, request, entity.key, request.match_info["id"], "delete",
                          {f.name: _display(getattr(row, f.name)) for f in entity.fields if f.kind != "password"})
    await _after_change(request, entity)
    raise web.HTTPFound(f"/desk/admin/{entity.key}")


def add_routes(app: web.Application) -> None:
    from . import polls

    polls.add_routes(app)  # before the generic routes, which would take /desk/admin/polls too
    r = app.router
    r.add_get("/desk/admin", index)
    r.add_get("/desk/admin/{entity}", list_page)
    r.add_post("/desk/admin/{entity}", save)
    r.add_get("/desk/admin/{entity}/{id}", edit_page)
    r.add_post("/desk/admin/{entity}/{id}", save)
    r.add_post("/desk/admin/{entity}/{id}/delete", delete_row)
