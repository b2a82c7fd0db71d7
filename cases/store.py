"""The case store: creating, finding and changing cases, always with their event rows.

Every method that changes a case writes the change and its event in one transaction; a case is
committed before its number is returned, so a number told to a citizen always exists.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from .calendar import WorkingCalendar
from .case_search import text_condition
from .case_writer import CaseWriter, NewCase
from .credentials import SecretHasher, is_valid_case_number, new_case_number, new_password
from .db import Database
from .intake import CaseInput, InvalidInput, clean_text, normalize_phone
from .similar import SimilarCases
from .models import (Attachment, CalendarDay, Case, CaseEvent, Category, DeadlineRule, Department,
                     Reminder, User, utcnow)
from .approvals import add_request, move_deadline
from .workflow import (ACTIONS, OPEN_STATUSES, Role, Status, Urgency, transition)


def select_cases():
    """Cases with what every view shows (category with its parent, department) loaded eagerly:
    async sessions cannot lazy-load afterwards."""
    return select(Case).options(joinedload(Case.category).joinedload(Category.parent),
                                joinedload(Case.department))


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class ClosedCase(RuntimeError):
    """The case is archived: nothing more is added to it (the citizen files a new one)."""


@dataclass(frozen=True)
class Actor:
    """Who does something: a citizen, the bot, the system, or a signed-in user."""
    name: str                       # "citizen", "bot", "system" or "user:<username>"
    user_id: int | None = None
    role: Role | None = None
    department_id: int | None = None

    @classmethod
    def for_user(cls, user: User) -> "Actor":
        return cls(f"user:{user.username}", user.id, Role(user.role), user.department_id)


CITIZEN = Actor("citizen")
BOT = Actor("bot")
SYSTEM = Actor("system")


DENSE_MATCHES = 2000  # from this many matches on, a search pages along the date index (SQLite)…
MAX_WALK = 20_000     # …and with a text, when it expects to find its page within this many cases


@dataclass
class CaseFilter:
    number: str = ""
    phone: str = ""
    text: str = ""
    kinds: list[str] = field(default_factory=list)
    category: str = ""            # a code; a top-level code includes its children
    department_id: int | None = None
    statuses: list[str] = field(default_factory=list)
    channel: str = ""
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    overdue: bool = False


class CaseStore:
    def __init__(self, db: Database, calendar: WorkingCalendar, hasher: SecretHasher,
                 attachments_dir: Path, attachment_max_bytes: int, reference_cache_s: float = 60.0,
                 similar_window_days: int = 30):
        self.db = db
        self.similar = SimilarCases(db, similar_window_days)
        self.reference_cache_s = reference_cache_s
        self._categories: tuple[float, list[Category]] | None = None
        self.calendar = calendar
        self.hasher = hasher
        self.attachments_dir = Path(attachments_dir)
        self.attachment_max_bytes = attachment_max_bytes
        self._case_writer: CaseWriter | None = None

    # ---- reference data used by validation and the calendar ------------------------------
    async def reload_calendar(self) -> None:
        async with self.db.read() as s:
            days = (await s.execute(select(CalendarDay))).scalars().all()
            rules = (await s.execute(select(DeadlineRule))).scalars().all()
        self.calendar.exceptions = {d.day: d.working for d in days}
        self.calendar.rules.update({r.kind: r.working_days for r in rules})

    async def categories(self) -> list[Category]:
        """Active categories, parents first. Kept for `reference_cache_s` seconds: every case
        submission validates against them, and they change only when reference data is loaded
        (possibly by another process: `hotline demo-data`), so a change shows within that time."""
        cached = self._categories
        if cached is not None and time.monotonic() - cached[0] < self.reference_cache_s:
            return list(cached[1])
        async with self.db.read() as s:
            rows = list((await s.execute(
                select(Category).where(Category.active.is_(True)).order_by(Category.position, Category.id)
            )).scalars())
        if rows:  # an empty table is not remembered: reference data may be loaded any moment
            self._categories = (time.monotonic(), rows)
        return list(rows)

    def forget_reference_data(self) -> None:
        """Drop cached categories (after loading reference data in this process)."""
        self._categories = None

    async def departments(self) -> list[Department]:
        async with self.db.read() as s:
            return list((await s.execute(
                select(Department).where(Department.active.is_(True)).order_by(Department.id))).scalars())

    async def category_codes(self) -> set[str]:
        return {c.code for c in await self.categories()}

    # ---- creation ---------------------------------------------------------------------------
    async def create_case(self, inp: CaseInput, actor: Actor = CITIZEN,
                          department_code: str | None = None) -> tuple[Case, str]:
        """Store a new case and its registration event (committed together before this returns,
        cases/case_writer.py); returns the case and its password."""
        password = new_password()
        password_hash = await self.hasher.hash(password)  # on the KDF threads, off the event loop
        category = None
        if inp.category_code:
            # from the cached list: no query inside the write transaction (serialized on SQLite)
            category = next((c for c in await self.categories() if c.code == inp.category_code), None)
            if category is None:
                self.forget_reference_data()  # perhaps added since it was cached
                category = next((c for c in await self.categories() if c.code == inp.category_code), None)
            if category is None:
                raise InvalidInput({"category": ("choice", {})})
        department = None
        if department_code:
            async with self.db.read() as s:
                department = (await s.execute(select(Department).where(Department.code == department_code))).scalar()
            if department is None:
                raise InvalidInput({"department": ("choice", {})})
        now = utcnow()
        row = dict(password_hash=password_hash, kind=inp.kind.value,
                   category_id=category.id if category else None, category_confidence=inp.category_confidence,
                   title=inp.title, description=inp.description,
                   location=inp.location, happened=inp.happened, contact_name=inp.contact_name,
                   contact_phone=inp.contact_phone, contact_email=inp.contact_email,
                   anonymous=inp.anonymous, wants_reply=inp.wants_reply, channel=inp.channel.value,
                   urgency=inp.urgency.value, status=Status.REGISTERED.value,
                   department_id=department.id if department else None,
                   deadline=self.calendar.deadline(now, inp.kind, inp.urgency), reply="", replied_at=None,
                   satisfaction=None, conversation_id=inp.conversation_id, locale=inp.locale,
                   created_at=now, updated_at=now, closed_at=None)
        event = dict(at=now, actor=actor.name, user_id=actor.user_id, channel=inp.channel.value,
                     action="register", from_status=None, to_status=Status.REGISTERED.value, comment="",
                     public=True, data=inp.extra or {})
        local_day = now.astimezone(self.calendar.tz).date()
        case_id, number = await self.case_writer.insert(NewCase(row, event, lambda: new_case_number(local_day)))
        case = Case(id=case_id, number=number, **row)
        make_transient_to_detached(case)  # as if loaded and its session closed, like every case handed out
        # views read the category (and its parent) and the department after the write
        set_committed_value(case, "category", category)
        set_committed_value(case, "department", department)
        return case, password

    @property
    def case_writer(self) -> CaseWriter:
        if self._case_writer is None:  # made on first use: its SQLite connection and thread are idle otherwise
            self._case_writer = CaseWriter(self.db)
        return self._case_writer

    def close(self) -> None:
        """Release the case writer's connection and thread (the Database is disposed by its owner)."""
        if self._case_writer is not None:
            self._case_writer.close()
            self._case_writer = None

    # ---- reading ----------------------------------------------------------------------------
    async def get(self, number: str) -> Case:
        async with self.db.read() as s:
            case = (await s.execute(select_cases().where(Case.number == number))).scalar()
        if case is None:
            raise NotFound(number)
        return case

    async def get_for(self, actor: Actor, number: str) -> Case:
        """The case as a member of staff may see it: NotFound, or Forbidden for another department's."""
        case = await self.get(number)
        self.check_permission(actor, case)
        return case

    @staticmethod
    def _events_query(case_id: int, public_only: bool):
        q = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
        if public_only:
            q = q.where(CaseEvent.public.is_(True))
        return q

    async def events(self, case_id: int, *, public_only: bool = False) -> list[CaseEvent]:
        async with self.db.read() as s:
            return list((await s.execute(self._events_query(case_id, public_only))).scalars())

    async def attachments(self, case_id: int) -> list[Attachment]:
        async with self.db.read() as s:
            return list((await s.execute(
                select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id))).scalars())

    async def lookup(self, number: str, password: str) -> Case | None:
        """The case if number and password match; None otherwise, equally slow either way."""
        number = clean_text(number).replace(" ", "")
        case = None
        if is_valid_case_number(number):
            async with self.db.read() as s:
                case = (await s.execute(select_cases().where(Case.number == number))).scalar()
        ok = await self.hasher.verify(case.password_hash if case else None, clean_text(password))
        return case if ok else None

    async def lookup_with_history(self, number: str, password: str) -> tuple[Case, list[CaseEvent]] | None:
        """lookup() and, once the password is verified, the case's public events, all in one read
        session (one connection checkout instead of two: the citizen's look-up is a hot path)."""
        number = clean_text(number).replace(" ", "")
        async with self.db.read() as s:
            case = None
            if is_valid_case_number(number):
                case = (await s.execute(select_cases().where(Case.number == number))).scalar()
            if not await self.hasher.verify(case.password_hash if case else None, clean_text(password)):
                return None
            events = list((await s.execute(self._events_query(case.id, True))).scalars())
        return case, events

    async def cases_for_phone(self, phone: str, limit: int = 20) -> list[Case]:
        phone = normalize_phone(phone)
        async with self.db.read() as s:
            return list((await s.execute(select_cases().where(Case.contact_phone == phone)
                                         .order_by(Case.created_at.desc()).limit(limit))).scalars())

    def _filter_query(self, f: CaseFilter, now: dt.datetime, base=None, *, by_date: bool = False, text=None):
        """The filter's conditions on `base` (default: cases with their eager loads); `text` is the
        text condition (cases.case_search; it needs a query of its own on SQLite).

        by_date: the equality filters are written so that no index serves them (SQLite's unary +),
        and the planner walks the date index instead, testing the text on each row it reads (see
        search())."""
        q = select_cases() if base is None else base

        def col(column):
            return _unindexed(column) if by_date else column
        if f.number:
            # a prefix as a range: the unique index answers it (LIKE cannot use it on SQLite)
            prefix = "".join(ch for ch in f.number if ch.isdigit())
            q = q.where(col(Case.number) >= prefix, col(Case.number) < prefix + ":")  # ":" sorts right after "9"
        if f.phone:
            q = q.where(Case.contact_phone == normalize_phone(f.phone))
        if text is not None:
            q = q.where(text.scan if by_date else text.condition(Case.id))
        if f.kinds:
            q = q.where(col(Case.kind).in_(f.kinds))
        if f.statuses:
            q = q.where(col(Case.status).in_(f.statuses))
        if f.channel:
            q = q.where(col(Case.channel) == f.channel)
        if f.department_id is not None:
            q = q.where(col(Case.department_id) == f.department_id)
        if f.category:
            sub = select(Category.id).where(or_(Category.code == f.category, Category.code.like(f"{f.category}.%")))
            q = q.where(col(Case.category_id).in_(sub))
        if f.created_from:
            q = q.where(Case.created_at >= f.created_from)
        if f.created_to:
            q = q.where(Case.created_at < f.created_to)
        if f.overdue:
            q = q.where(col(Case.status).in_([s.value for s in OPEN_STATUSES]), col(Case.deadline) < now)
        return q

    async def search(self, f: CaseFilter, *, limit: int = 50, offset: int = 0,
                     count_limit: int | None = None) -> tuple[list[Case], int]:
        """A page of cases (newest first) and how many match; with count_limit, counting stops past
        that many (the total is then count_limit + 1: "more than"), so a count reads at most that
        many index entries however many cases match."""
        now = utcnow()
        async with self.db.read() as s:
            text = await text_condition(s, self.db.sqlite, f.text) if f.text else None
            # the count and the page run on the bare filter; only the page's cases are then loaded
            # with their category and department (joining every skipped or counted case cost most)
            ids = None
            if text is not None and text.scans and count_limit is not None:
                # no index for the text: one scan finds every match (up to the limit) with its date,
                # and the page comes from them, rather than a second scan for it
                keys = (await s.execute(self._filter_query(f, now, select(Case.id, Case.created_at)
                                                           .select_from(Case), text=text)
                                        .limit(count_limit + 1))).all()
                total = len(keys)
                if total <= count_limit:
                    keys.sort(key=lambda k: (k.created_at, k.id), reverse=True)
                    ids = [k.id for k in keys[offset:offset + limit]]
            elif count_limit is None:
                total = (await s.execute(self._filter_query(f, now, select(func.count(Case.id)).select_from(Case),
                                                            text=text))).scalar()
            else:
                matching = self._filter_query(f, now, select(Case.id).select_from(Case), text=text)
                if text is not None and text.ids is not None and f == CaseFilter(text=f.text):
                    matching = text.ids  # the text alone: counted in its index, without the cases
                total = (await s.execute(select(func.count()).select_from(
                    matching.limit(count_limit + 1).subquery()))).scalar()
            if ids is None and offset < total:
                # many matches on SQLite: walking the date index newest first (ix_cases_list: it holds
                # every filtered column but the text) finds a page after a few entries, while its
                # planner (no statistics) would fetch them all through a filter's index and sort them
                by_date = self.db.sqlite and total >= DENSE_MATCHES and offset + limit <= total // 2 \
                    and not _in_order_by_index(f)
                if by_date and text is not None:
                    # the walk reads each case's text: only when the page is near (the matches spread
                    # over the cases, which the largest id counts)
                    cases = (await s.execute(select(func.max(Case.id)))).scalar() or 0
                    by_date = (offset + limit) * cases / total <= MAX_WALK
                page = self._filter_query(f, now, select(Case.id).select_from(Case), by_date=by_date, text=text)
                ids = list((await s.execute(page.order_by(Case.created_at.desc(), Case.id.desc())
                                            .limit(limit).offset(offset))).scalars())
            ids = ids or []
            found = {c.id: c for c in (await s.execute(select_cases().where(Case.id.in_(ids)))).scalars()} \
                if ids else {}
        rows = [found[i] for i in ids if i in found]
        return list(rows), int(total)

    # ---- workflow ---------------------------------------------------------------------------
    def check_permission(self, actor: Actor, case: Case, action: str | None = None) -> None:
        """Department handlers act only on their own department's cases; roles per action."""
        if actor.role is None:
            raise Forbidden("sign in first")
        if actor.role is Role.DEPARTMENT and case.department_id != actor.department_id:
            raise Forbidden("this case belongs to another department")
        if action is not None and actor.role not in ACTIONS[action].roles:
            raise Forbidden(f"role {actor.role.value} may not {action}")

    async def apply(self, number: str, action: str, actor: Actor, *, channel: str = "web",
                    comment: str = "", reply: str = "", department_code: str | None = None,
                    deadline: dt.datetime | None = None, satisfaction: int | None = None,
                    co_departments: Iterable[str] = ()) -> Case:
        """Apply a workflow action; the state change and its event commit together or not at all."""
        if action not in ACTIONS or action == "merge":  # a merge names its master: cases/case_links.py
            raise InvalidInput({"action": ("choice", {})})
        act = ACTIONS[action]
        comment = clean_text(comment, multiline=True)
        reply = clean_text(reply, multiline=True)
        missing = {
            "comment": not comment, "reply": not reply, "department": not department_code,
            "deadline": deadline is None, "satisfaction": satisfaction not in (1, 2, 3),
        }
        errors = {name: ("required", {}) for name in act.requires if missing[name]}
        if errors:
            raise InvalidInput(errors)
        now = utcnow()
        async with self.db.write() as s:
            case = (await s.execute(select_cases().where(Case.number == number).with_for_update(of=Case))).scalar()
            if case is None:
                raise NotFound(number)
            self.check_permission(actor, case, action)
            before = Status(case.status)
            after = transition(action, before)  # raises IllegalTransition naming both states
            data: dict[str, Any] = {}
            if department_code and "department" in act.requires:
                dept = (await s.execute(select(Department).where(Department.code == department_code))).scalar()
                if dept is None:
                    raise InvalidInput({"department": ("choice", {})})
                case.department_id = dept.id
                data["department"] = dept.code
                case.deadline = self.calendar.deadline(now, case.kind, case.urgency)
                if co_departments:  # dispatched to several: the first leads, these co-handle
                    data["co_departments"] = [c for c in co_departments if c != dept.code]
            if action == "extend":
                move_deadline(case, deadline, now, data)
            if action in ("request_extend", "request_return"):  # the centre decides (cases/approvals.py)
                await add_request(s, case, action, actor, comment, deadline, now, data)
            if "reply" in act.requires:
                case.reply, case.replied_at = reply, now
            if "satisfaction" in act.requires:
                case.satisfaction = satisfaction
                data["satisfaction"] = satisfaction
            if action == "remind":
                s.add(Reminder(case_id=case.id, kind="remind", due_at=now, created_by=actor.user_id,
                               note=comment, done_at=now))
            if action == "close":
                case.closed_at = now
            case.status = after.value
            case.updated_at = now
            s.add(CaseEvent(case_id=case.id, at=now, actor=actor.name, user_id=actor.user_id, channel=channel,
                            action=action, from_status=before.value, to_status=after.value,
                            comment=reply if action in ("answer", "reply") else comment,
                            public=act.public, data=data))
        return case

    async def correct(self, number: str, actor: Actor, *, category: str | None = None, title: str | None = None,
                      location: str | None = None, channel: str = "desk") -> Case:
        """A hotline agent's correction, before dispatch, of what a case is about (category, title,
        place); recorded as a `correct` event. The category becomes a person's choice (no
        confidence), which the category classifier learns from (classifier/dataset.py)."""
        errors: dict = {}
        title = clean_text(title) if title is not None else None
        location = clean_text(location) if location is not None else None
        if title is not None and not title:
            errors["title"] = ("required", {})
        elif title is not None and len(title) > 200:
            errors["title"] = ("too_long", {"max": 200})
        if location is not None and len(location) > 300:
            errors["location"] = ("too_long", {"max": 300})
        chosen = None
        if category:
            chosen = next((c for c in await self.categories() if c.code == category), None)
            if chosen is None:
                errors["category"] = ("choice", {})
        if errors:
            raise InvalidInput(errors)
        async with self.db.write() as s:
            case = (await s.execute(select_cases().where(Case.number == number))).scalar()
            if case is None:
                raise NotFound(number)
            if case.status not in (Status.REGISTERED.value, Status.RETURNED.value):
                raise InvalidInput({"action": ("choice", {})})  # the department has it now
            changed = {}
            if chosen is not None:
                if chosen.id != case.category_id:
                    changed["category"] = chosen.code
                case.category_id, case.category_confidence = chosen.id, None
            for name, value in (("title", title), ("location", location)):
                if value is not None and value != getattr(case, name):
                    changed[name] = value
                    setattr(case, name, value)
            case.updated_at = utcnow()
            s.add(CaseEvent(case_id=case.id, actor=actor.name, user_id=actor.user_id, channel=channel,
                            action="correct", from_status=case.status, to_status=case.status, public=False,
                            data=changed))
        return await self.get(number)

    async def add_citizen_information(self, case_id: int, text: str, *, channel: str = "web",
                                      data: dict | None = None, open_only: bool = False) -> None:
        """The citizen's own addition to their case (补充材料): a public event holding their words
        (empty when they only add files); an archived (or merged) case takes none (ClosedCase), nor,
        with `open_only`, one no longer being worked (an intake added to its likely duplicate)."""
        async with self.db.write() as s:
            case = await s.get(Case, case_id)
            if case is None:
                raise NotFound(str(case_id))
            if case.status in (Status.CLOSED.value, Status.MERGED.value) or \
                    (open_only and Status(case.status) not in OPEN_STATUSES):
                raise ClosedCase(case.number)
            s.add(CaseEvent(case_id=case_id, actor=CITIZEN.name, channel=channel, action="supplement",
                            from_status=case.status, to_status=case.status, public=True, comment=text,
                            data=data or {}))
            case.updated_at = utcnow()

    async def rate_outcome(self, case_id: int, value: int, comment: str = "", *, channel: str = "web") -> Case:
        """The citizen's own rating of the reply (办理结果评价, online instead of the 回访 call): the
        case's OUTCOME rating, as a 回访 gives it — a `follow_up` event by the citizen, and the case
        leaves the follow-up list. Only a replied (or answered) case not yet followed up takes one
        (IllegalTransition otherwise); the conversation's service rating is another thing."""
        if value not in (1, 2, 3):
            raise InvalidInput({"satisfaction": ("choice", {})})
        comment = clean_text(comment, multiline=True)
        if len(comment) > 500:
            raise InvalidInput({"comment": ("too_long", {"max": 500})})
        now = utcnow()
        async with self.db.write() as s:
            case = (await s.execute(select_cases().where(Case.id == case_id).with_for_update(of=Case))).scalar()
            if case is None:
                raise NotFound(str(case_id))
            before = Status(case.status)
            after = transition("follow_up", before)
            case.satisfaction, case.status, case.updated_at = value, after.value, now
            s.add(CaseEvent(case_id=case.id, at=now, actor=CITIZEN.name, channel=channel, action="follow_up",
                            from_status=before.value, to_status=after.value, comment=comment, public=True,
                            data={"satisfaction": value, "by": "citizen"}))
        return case

    # ---- attachments ------------------------------------------------------------------------
    def attachment_path(self, sha256: str) -> Path:
        return self.attachments_dir / sha256[:2] / sha256[2:4] / sha256

    async def add_attachment(self, case_id: int, *, kind: str, filename: str, content_type: str,
                             data: bytes, actor: Actor = SYSTEM, channel: str = "web") -> Attachment:
        if len(data) > self.attachment_max_bytes:
            raise InvalidInput({"file": ("too_large", {"max": self.attachment_max_bytes})})
        digest = hashlib.sha256(data).hexdigest()
        path = self.attachment_path(digest)
        if not path.exists():  # content-addressed: the same bytes are stored once
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        safe_name = clean_text(Path(filename or "file").name)[:200] or "file"
        async with self.db.write() as s:
            case = await s.get(Case, case_id)
            if case is None:
                raise NotFound(str(case_id))
            att = Attachment(case_id=case_id, kind=kind, filename=safe_name,
                             content_type=content_type[:100], size=len(data), sha256=digest)
            s.add(att)
            s.add(CaseEvent(case_id=case_id, actor=actor.name, user_id=actor.user_id, channel=channel,
                            action="attach", from_status=case.status, to_status=case.status,
                            public=False, data={"filename": safe_name, "sha256": digest, "kind": kind}))
        return att

    async def overdue(self, now: dt.datetime | None = None, statuses: Iterable[Status] = OPEN_STATUSES) -> list[Case]:
        now = now or utcnow()
        async with self.db.read() as s:
            return list((await s.execute(select_cases().where(Case.status.in_([x.value for x in statuses]),
                                                            Case.deadline < now)
                                         .order_by(Case.deadline))).scalars())


def _in_order_by_index(f: CaseFilter) -> bool:
    """Whether one of the list indexes (models.Case: status / kind+status / department+status, each
    then created_at) holds exactly the filter's matches, newest first."""
    if f.number or f.phone or f.text or f.channel or f.category or f.overdue or len(f.statuses) != 1:
        return False
    if f.department_id is not None:
        return not f.kinds
    return len(f.kinds) <= 1


def _unindexed(column):
    """`+column` for SQLite: the same value, but no index is used for the comparison."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def is_urgent(case: Case) -> bool:
    return case.urgency == Urgency.URGENT.value
