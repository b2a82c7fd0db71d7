"""Realistic synthetic history for reports, demos and the benchmark: cases with their events,
conversations and hand-offs, bulk-inserted (COPY on PostgreSQL, executemany on SQLite).

Shapes follow a city hotline: more on working days than on weekends and holidays, office-hour
peaks, a long tail of categories, most consultations answered on the spot, the rest dispatched to
the department that handles the category, with returns, extensions, reminders, reopenings and
satisfaction answers at realistic rates. Deadlines come from the same working-day calendar as
live cases. Deterministic for a given seed.

    python -m cases.reports.generate --db-url postgresql://postgres@127.0.0.1/x --cases 1000000
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text

from ..calendar import WorkingCalendar
from ..credentials import luhn_digit
from ..db import make_sync_engine
from ..models import Case, CaseEvent, Category, Department, Handoff, ReportWatermark, User
from ..workflow import Status
from . import agent_daily, conversations

UTC = dt.timezone.utc
GENERATED_HASH = "!generated"   # not an argon2 hash: generated cases cannot be looked up
KINDS = [("consultation", 44), ("complaint", 24), ("help", 10), ("suggestion", 8), ("report", 6),
         ("mayor_mailbox", 5), ("praise", 3)]
CHANNELS = [("phone_agent", 55), ("phone_self", 9), ("webchat", 14), ("web", 12), ("email", 6),
            ("letter", 3), ("fax", 1)]
CONVERSATION_CHANNEL = {"phone_agent": "voice", "phone_self": "voice", "webchat": "webchat", "email": "email"}
HOURS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 15, 13, 9, 10, 14, 15, 14, 12, 8, 7, 6, 4, 3, 2]
DISTRICTS = ["东城区", "西城区", "南湖区", "北岭区", "高新区", "滨江区", "开发区", "老城区"]
STREETS = ["人民路", "解放路", "建设大道", "中山路", "和平街", "长江路", "黄河路", "胜利街", "新华路", "朝阳路",
           "光明街", "文化路", "工业大道", "幸福路", "春风街"]
PLACES = ["阳光小区", "锦绣花园", "翠湖苑", "世纪城", "和谐家园", "金色家园", "滨河小区", "汽车站",
          "第一中学", "人民医院", "农贸市场", "火车站广场", "体育公园", "万达广场", "工业园"]
TITLES = {"consultation": "咨询{c}相关政策", "complaint": "投诉{c}问题", "help": "求助：{c}",
          "suggestion": "关于{c}的建议", "report": "举报{c}", "mayor_mailbox": "市长信箱：{c}",
          "praise": "表扬{c}工作人员"}


@dataclass
class Reference:
    categories: list[tuple[int, str, str]]      # (id, code, name) of second-level categories
    category_dept: dict[int, int]
    departments: list[tuple[int, str]]          # (id, code)
    agents: list[int]
    dept_users: dict[int, int]


def _fmt(t: dt.datetime | None) -> str | None:
    """UTC as the database stores it (what SQLAlchemy writes on SQLite); every time here is UTC."""
    return None if t is None else t.isoformat(sep=" ", timespec="microseconds")[:26]


def _json(data: dict | None) -> str:
    return json.dumps(data, ensure_ascii=False) if data else "{}"


class Generator:
    def __init__(self, reference: Reference, calendar: WorkingCalendar, start: dt.date, end: dt.date,
                 now: dt.datetime, seed: int = 12345):
        self.ref, self.cal, self.now = reference, calendar, now
        self.rng = random.Random(seed)
        self.days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        self.day_weights = list(self._cumulate(self._day_weight(d, i) for i, d in enumerate(self.days)))
        self.hour_cum = list(self._cumulate(HOURS))
        self.kind_cum = list(self._cumulate(w for _, w in KINDS))
        self.channel_cum = list(self._cumulate(w for _, w in CHANNELS))
        # a long tail: the k-th category is 1/k^0.9 as frequent as the first (shuffled by seed)
        cats = list(reference.categories)
        self.rng.shuffle(cats)
        self.cats = cats
        self.cat_cum = list(self._cumulate(1 / (k + 1) ** 0.9 for k in range(len(cats))))
        places = [f"{d}{s}{p}" for d in DISTRICTS for s in STREETS[:6] for p in PLACES[:5]]
        self.rng.shuffle(places)
        self.places = places
        self.place_cum = list(self._cumulate(1 / (k + 1) ** 1.1 for k in range(len(places))))
        self.number_seq: dict[dt.date, int] = {}
        self.deadline = lru_cache(maxsize=None)(self._deadline)

    @staticmethod
    def _cumulate(weights):
        total = 0.0
        for w in weights:
            total += w
            yield total

    def _day_weight(self, day: dt.date, index: int) -> float:
        base = 1.0 if self.cal.is_working_day(day) else (0.45 if day.weekday() < 5 else 0.55)
        season = 1.0 + 0.15 * (day.month in (7, 8)) + 0.1 * (day.month in (12, 1))  # heat, heating
        return base * season * (1 + 0.25 * index / max(1, len(self.days)))        # slow growth

    def _pick(self, cum, items):
        return items[self.rng.choices(range(len(items)), cum_weights=cum)[0]]

    def _deadline(self, local_day: dt.date, after_hours: bool, days: int) -> dt.datetime:
        start = dt.datetime.combine(local_day, dt.time(23, 0) if after_hours else dt.time(9, 0), tzinfo=self.cal.tz)
        return self.cal.add_working_days(start, days)

    def _number(self, day: dt.date) -> str:
        seq = self.number_seq.get(day, 0) + 1
        self.number_seq[day] = seq
        body = day.strftime("%y%m%d") + f"{seq:06d}"
        return body + luhn_digit(body)

    def _later(self, t: dt.datetime, lo_min: float, hi_min: float) -> dt.datetime:
        return t + dt.timedelta(minutes=self.rng.uniform(lo_min, hi_min))

    def cases(self, count: int, first_id: int, first_event_id: int, first_handoff_id: int):
        """Yield (case row, [event rows], [conversation rows], [handoff rows]) per case."""
        rng, tz = self.rng, self.cal.tz
        day_idx = rng.choices(range(len(self.days)), cum_weights=self.day_weights, k=count)
        day_idx.sort()  # cases arrive in time order, as ids do
        event_id, handoff_id = first_event_id, first_handoff_id
        hours = list(range(24))
        for n, di in enumerate(day_idx):
            case_id = first_id + n
            day = self.days[di]
            hour = self._pick(self.hour_cum, hours)
            local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60),
                                                      rng.randrange(1000000)), tzinfo=tz)
            created = local.astimezone(UTC)  # every later time is derived from it: all UTC
            if created >= self.now:
                created = self.now - dt.timedelta(minutes=rng.uniform(1, 600))
            kind = self._pick(self.kind_cum, [k for k, _ in KINDS])
            channel = self._pick(self.channel_cum, [c for c, _ in CHANNELS])
            cat_id, cat_code, cat_name = self._pick(self.cat_cum, self.cats)
            dept_id = self.ref.category_dept.get(cat_id) or rng.choice(self.ref.departments)[0]
            urgent = rng.random() < 0.04
            after_hours = local.time() >= self.cal.workday_end or not self.cal.is_working_day(day)
            days = self.cal.working_days_for(kind, "urgent" if urgent else "normal")
            deadline = self.deadline(day, after_hours, days)
            agent = rng.choice(self.ref.agents) if channel in ("phone_agent", "letter", "fax") else None
            events: list[tuple] = []
            convs: list[tuple] = []
            handoffs: list[tuple] = []

            def event(at, actor_id, action, before, after, data=None, public=True, actor_name=None):
                nonlocal event_id
                if at > self.now:
                    return False
                actor = actor_name or ("user:generated" if actor_id else
                                       "citizen" if action == "register" else "system")
                events.append((event_id, case_id, _fmt(at), actor,
                               actor_id, channel if action == "register" else "web", action, before, after,
                               "", public, _json(data)))
                event_id += 1
                return True

            status, replied_at, closed_at, satisfaction = Status.REGISTERED.value, None, None, None
            event(created, agent, "register", None, status)
            department = None
            if kind == "consultation" and rng.random() < 0.7:
                at = self._later(created, 1, 15)
                if event(at, agent or rng.choice(self.ref.agents), "answer", status, Status.ANSWERED.value):
                    status, replied_at = Status.ANSWERED.value, at
                    t = at
                    if rng.random() < 0.35:
                        t = self._later(t, 60 * 24, 60 * 24 * 3)
                        satisfaction = rng.choices([1, 2, 3], [82, 12, 6])[0]
                        if event(t, rng.choice(self.ref.agents), "follow_up", status, Status.FOLLOWED_UP.value,
                                 {"satisfaction": satisfaction}):
                            status = Status.FOLLOWED_UP.value
                        else:
                            satisfaction = None
                    t = self._later(t, 60, 60 * 48)
                    if event(t, rng.choice(self.ref.agents), "close", status, Status.CLOSED.value):
                        status, closed_at = Status.CLOSED.value, t
            else:
                granted: list = []  # a deadline the hotline centre extended it to
                status, replied_at, closed_at, satisfaction, department = self._dispatched(
                    event, created, deadline, dept_id, status, granted)
                deadline = granted[-1] if granted else deadline
            if channel in CONVERSATION_CHANNEL:
                conv_id = f"gen-{case_id}"
                conv_channel = CONVERSATION_CHANNEL[channel]
                # half the citizens rate the service when the conversation ends (not the case's
                # outcome, which only its 回访 gives)
                conv_sat = rng.choices([1, 2, 3], [85, 10, 5])[0] if rng.random() < 0.5 else None
                # the conversation began a few minutes before the case was registered in it
                started = created - dt.timedelta(minutes=rng.uniform(4, 10))
                ended = self._later(created, 0.5, 6)
                convs.append((conv_id, conv_channel, "", "ended", conv_sat, "[]", _fmt(started), _fmt(ended)))
                if channel in ("phone_agent", "webchat") and rng.random() < (0.9 if channel == "phone_agent" else 0.5):
                    asked = self._later(started, 0.3, 1.5)   # asked for a human,
                    taken = self._later(asked, 0.1, 2)       # an agent took over and registered the case
                    handoffs.append((handoff_id, conv_id, conv_channel, "asked", "{}", "[]", _fmt(asked),
                                     agent or rng.choice(self.ref.agents), _fmt(taken), _fmt(ended)))
                    handoff_id += 1
            # the bot's own conversations that filed no case: self-served or given up waiting
            for _ in range(1 if rng.random() < 0.6 else 0):
                at = self._later(created, -600, 600)
                if at >= self.now:
                    continue
                conv_id = f"gen-{case_id}-s"
                medium = rng.choices(["voice", "webchat", "email"], [70, 25, 5])[0]
                convs.append((conv_id, medium, "", "ended", rng.choice([None, None, 1, 1, 2, 3]), "[]",
                              _fmt(at), _fmt(self._later(at, 1, 8))))
                if medium != "email" and rng.random() < 0.15:  # asked for a human, hung up waiting
                    handoffs.append((handoff_id, conv_id, medium, "asked", "{}", "[]", _fmt(at), None, None,
                                     _fmt(self._later(at, 0.5, 4))))
                    handoff_id += 1
            case_row = (case_id, self._number(day), GENERATED_HASH, kind, cat_id, TITLES[kind].format(c=cat_name),
                        f"{cat_name}：市民反映的情况（生成数据）", self._pick(self.place_cum, self.places), "",
                        "", f"1{rng.randrange(30, 90)}{rng.randrange(10**8):08d}", "", False, True, channel,
                        "urgent" if urgent else "normal", status, department, _fmt(deadline), "",
                        _fmt(replied_at), satisfaction, None, "zh", _fmt(created),
                        _fmt(max([created] + [t for t in (replied_at, closed_at) if t])), _fmt(closed_at))
            yield case_row, events, convs, handoffs

    def _dispatched(self, event, created, deadline, dept_id, status, granted: list):
        """Dispatch, sign for, work and reply, with the detours real cases take."""
        rng = self.rng
        replied_at = closed_at = satisfaction = None
        handler = self.ref.dept_users.get(dept_id)
        dept_code = dict(self.ref.departments).get(dept_id, "")
        t = self._later(created, 5, 240)
        if not event(t, rng.choice(self.ref.agents), "dispatch", status, Status.DISPATCHED.value,
                     {"department": dept_code}):
            return status, None, None, None, None
        status = Status.DISPATCHED.value
        if rng.random() < 0.03:  # returned: wrong department, dispatched again to the same one here
            t = self._later(t, 30, 60 * 30)
            if not event(t, handler, "return", status, Status.RETURNED.value, public=False):
                return status, None, None, None, dept_id
            status = Status.RETURNED.value
            t = self._later(t, 10, 600)
            if not event(t, rng.choice(self.ref.agents), "dispatch", status, Status.DISPATCHED.value,
                         {"department": dept_code}):
                return status, None, None, None, dept_id
            status = Status.DISPATCHED.value
        t = self._later(t, 10, 60 * 30 if rng.random() < 0.9 else 60 * 24 * 4)  # mostly within a working day
        if not event(t, handler, "accept", status, Status.ACCEPTED.value):
            return status, None, None, None, dept_id
        status = Status.ACCEPTED.value
        t = self._later(t, 5, 600)
        if not event(t, handler, "start", status, Status.IN_PROGRESS.value):
            return status, None, None, None, dept_id
        status = Status.IN_PROGRESS.value
        span = max(120.0, (deadline - t).total_seconds() / 60)  # late already: still after t
        extended_at = None
        if rng.random() < 0.05:  # extended: asked for, and granted by the hotline centre, ten working days on
            asked_at = self._later(t, 60, max(61, span * 0.4))
            extended_at = self._later(asked_at, 10, 240)
            new_deadline = deadline + dt.timedelta(days=14)
            if event(asked_at, handler, "request_extend", status, status, {"deadline": new_deadline.isoformat()},
                     public=False) and \
                    event(extended_at, rng.choice(self.ref.agents), "extend", status, status,
                          {"old_deadline": deadline.isoformat(), "deadline": new_deadline.isoformat()}):
                deadline = new_deadline
                granted.append(deadline)  # the case's own deadline moves (it stayed behind before)
                span = max(120.0, (deadline - t).total_seconds() / 60)
        late = rng.random() < 0.08
        reply_at = self._later(t, max(30.0, span * 0.1), span * (1.6 if late else 0.95))
        if extended_at and reply_at <= extended_at:
            reply_at = self._later(extended_at, 30, 600)
        if rng.random() < 0.06:  # reminded while it was being worked
            event(t + (reply_at - t) * rng.uniform(0.2, 0.8), None, "remind", status, status, public=False,
                  actor_name="system")
        if not event(reply_at, handler, "reply", status, Status.REPLIED.value):
            return status, None, None, None, dept_id
        status, replied_at = Status.REPLIED.value, reply_at
        t = reply_at
        if rng.random() < 0.6:
            t = self._later(t, 60 * 12, 60 * 24 * 4)
            sat = rng.choices([1, 2, 3], [74, 16, 10])[0]
            if event(t, rng.choice(self.ref.agents), "follow_up", status, Status.FOLLOWED_UP.value,
                     {"satisfaction": sat}):
                status, satisfaction = Status.FOLLOWED_UP.value, sat
                if sat == 3 and rng.random() < 0.3:  # reopened after dissatisfaction, replied again
                    t = self._later(t, 60, 60 * 24)
                    if event(t, rng.choice(self.ref.agents), "reopen", status, Status.DISPATCHED.value,
                             {"department": dept_code}):
                        status = Status.DISPATCHED.value
                        t = self._later(t, 60, 60 * 24 * 5)
                        if event(t, handler, "accept", status, Status.ACCEPTED.value):
                            status = Status.ACCEPTED.value
                            t = self._later(t, 60, 60 * 24 * 5)
                            if event(t, handler, "reply", status, Status.REPLIED.value):
                                status, replied_at = Status.REPLIED.value, t
                        return status, replied_at, None, satisfaction, dept_id
        t = self._later(t, 60, 60 * 72)
        if event(t, rng.choice(self.ref.agents), "close", status, Status.CLOSED.value):
            status, closed_at = Status.CLOSED.value, t
        return status, replied_at, closed_at, satisfaction, dept_id


CASE_COLUMNS = ["id", "number", "password_hash", "kind", "category_id", "title", "description", "location",
                "happened", "contact_name", "contact_phone", "contact_email", "anonymous", "wants_reply", "channel",
                "urgency", "status", "department_id", "deadline", "reply", "replied_at", "satisfaction",
                "conversation_id", "locale", "created_at", "updated_at", "closed_at"]
EVENT_COLUMNS = ["id", "case_id", "at", "actor", "user_id", "channel", "action", "from_status", "to_status",
                 "comment", "public", "data"]
CONVERSATION_COLUMNS = ["id", "channel", "caller", "state", "satisfaction", "case_numbers", "started_at",
                        "updated_at"]
HANDOFF_COLUMNS = ["id", "conversation_id", "channel", "reason", "summary", "transcript", "requested_at",
                   "taken_by", "taken_at", "released_at"]
RATING_COLUMNS = ["conversation_id", "case_id", "channel", "agent_id", "value", "rated_at"]


def service_ratings(convs: list[tuple], handoffs: list[tuple]) -> list[tuple]:
    """The service rating of each rated conversation (models.ServiceRating): rated when it ended,
    of the agent who took it over (none: the bot); a conversation gen-<case id> filed that case."""
    takers = {h[1]: h[7] for h in handoffs if h[7] is not None}
    rows = []
    for conv_id, channel, _caller, _state, value, _numbers, _started, ended in convs:
        if value is not None:
            case = conv_id[4:]
            rows.append((conv_id, int(case) if case.isdigit() else None, channel, takers.get(conv_id), value, ended))
    return rows


class _Sink:
    """Writes batches of rows: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine):
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def write(self, conn, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.pg:
            buf = io.StringIO()
            writer = csv.writer(buf)
            for row in rows:
                writer.writerow(["\\N" if v is None else ("t" if v is True else "f" if v is False else v)
                                 for v in row])
            buf.seek(0)
            cursor = conn.connection.cursor()
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
            cursor.close()
        else:
            marks = ", ".join("?" for _ in columns)
            conn.connection.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def ensure_people(conn, agents: int = 60) -> tuple[list[int], dict[int, int]]:
    """Generated agents (工号 1001…) and one handler per department; created once, reused."""
    existing = {u.username: u.id for u in conn.execute(select(User.username, User.id))}
    now = dt.datetime.now(UTC)
    for i in range(agents):
        name = f"gen_agent_{1001 + i}"
        if name not in existing:
            conn.execute(User.__table__.insert().values(
                username=name, display_name=f"话务员{1001 + i}", agent_no=str(1001 + i), password_hash="!",
                role="agent", active=True, created_at=now))
    for dept_id, code in conn.execute(select(Department.id, Department.code).order_by(Department.id)):
        name = f"gen_dept_{code}"
        if name not in existing:
            conn.execute(User.__table__.insert().values(
                username=name, display_name=f"{code}经办人", password_hash="!", role="department",
                department_id=dept_id, active=True, created_at=now))
    agent_ids = [r.id for r in conn.execute(select(User.id).where(User.username.like("gen_agent_%")).order_by(User.id))]
    dept_users = {r.department_id: r.id for r in conn.execute(
        select(User.department_id, User.id).where(User.username.like("gen_dept_%")))}
    return agent_ids[:agents], dept_users


def existing_people(conn) -> tuple[list, dict[int, int]]:
    """The staff already there: agents and supervisors with a 工号, department handlers."""
    agent_ids = [r.id for r in conn.execute(select(User.id).where(User.agent_no.isnot(None),
                                                                  User.role.in_(["agent", "supervisor"]))
                                            .order_by(User.id))]
    dept_users = {}
    for r in conn.execute(select(User.department_id, User.id).where(User.role == "department").order_by(User.id)):
        dept_users.setdefault(r.department_id, r.id)
    return agent_ids or [None], dept_users


def load_reference(conn, agents: int, create_people: bool = True) -> Reference:
    cats = conn.execute(select(Category.id, Category.code, Category.name).where(Category.parent_id.isnot(None))
                        .order_by(Category.id)).all()
    if not cats:
        raise SystemExit("no categories: load the reference data first (hotline demo-data)")
    depts = conn.execute(select(Department.id, Department.code, Department.category_codes)
                         .order_by(Department.id)).all()
    by_code = {c.code: c.id for c in cats}
    category_dept = {}
    for d in depts:
        for code in d.category_codes or []:
            if code in by_code:
                category_dept.setdefault(by_code[code], d.id)
    agent_ids, dept_users = ensure_people(conn, agents) if create_people else existing_people(conn)
    return Reference([tuple(c) for c in cats], category_dept, [(d.id, d.code) for d in depts], agent_ids, dept_users)


def _calendar(conn, tz: str) -> WorkingCalendar:
    from . import load_calendar
    return load_calendar(conn, tz)


def _next_id(conn, table) -> int:
    return (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1


def generate(urls: str | list[str], count: int, *, start: dt.date, end: dt.date, now: dt.datetime | None = None,
             seed: int = 12345, agents: int = 60, tz: str = "Asia/Shanghai", batch: int = 20000,
             progress=None, create_people: bool = True) -> dict[str, int]:
    """Insert `count` cases created between local days `start` and `end` (exclusive), with their
    events, conversations and hand-offs as of `now`, into one database or several at once (the
    same rows: the benchmark fills PostgreSQL and SQLite in one pass). Returns the row counts."""
    engines = [make_sync_engine(u) for u in ([urls] if isinstance(urls, str) else urls)]
    now = now or dt.datetime.now(UTC)
    totals = dict(cases=0, events=0, conversations=0, handoffs=0)
    try:
        refs, firsts = [], []
        for engine in engines:
            with engine.begin() as conn:
                refs.append(load_reference(conn, agents, create_people))
                cal = _calendar(conn, tz)
                firsts.append(tuple(_next_id(conn, t.__table__) for t in (Case, CaseEvent, Handoff)))
        if any(r != refs[0] for r in refs) or len(set(firsts)) != 1:
            raise SystemExit("the databases differ in reference data or existing rows: fill them one by one")
        gen = Generator(refs[0], cal, start, end, now, seed)
        started = time.perf_counter()
        rows = gen.cases(count, *firsts[0])
        done = False
        while not done:
            cases, events, convs, handoffs = [], [], [], []
            for _ in range(batch):
                try:
                    c, e, cv, h = next(rows)
                except StopIteration:
                    done = True
                    break
                cases.append(c)
                events += e
                convs += cv
                handoffs += h
            for engine in engines:
                sink = _Sink(engine)
                with engine.begin() as conn:
                    # the rows are consistent by construction: skip per-row foreign-key checks
                    if sink.pg:
                        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                    else:
                        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                        conn.exec_driver_sql("PRAGMA synchronous=OFF")
                    sink.write(conn, "cases", CASE_COLUMNS, cases)
                    sink.write(conn, "case_events", EVENT_COLUMNS, events)
                    sink.write(conn, "conversations", CONVERSATION_COLUMNS, convs)
                    sink.write(conn, "handoffs", HANDOFF_COLUMNS, handoffs)
                    sink.write(conn, "service_ratings", RATING_COLUMNS, service_ratings(convs, handoffs))
            for k, v in (("cases", cases), ("events", events), ("conversations", convs), ("handoffs", handoffs)):
                totals[k] += len(v)
            if progress:
                progress(totals, time.perf_counter() - started)
        for engine in engines:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":  # explicit ids were written: move the sequences on
                    for table in ("cases", "case_events", "handoffs"):
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                          f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
                # history written around the gateway, with past times: the summaries that follow
                # changes by time (conversations, agents' work) would not see it; built whole next
                conn.execute(delete(ReportWatermark).where(
                    ReportWatermark.name.in_([conversations.NAME, agent_daily.NAME])))
                conn.exec_driver_sql("ANALYZE")
    finally:
        for engine in engines:
            engine.dispose()
    return totals


def demo_history(url: str, cases: int = 3000, *, days: int = 400, tz: str = "Asia/Shanghai") -> int:
    """Sample history for the demo (`hotline demo-data`): `cases` cases over the last `days` days, so
    every report and its 同比 has figures, worked by the demo staff (no users are added). Only into a
    database without generated cases (idempotent); returns the number written."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            generated = select(func.count()).select_from(Case).where(Case.password_hash == GENERATED_HASH)
            if conn.execute(generated).scalar():
                return 0
    finally:
        engine.dispose()
    now = dt.datetime.now(UTC)
    today = now.astimezone(ZoneInfo(tz)).date()
    return generate(url, cases, start=today - dt.timedelta(days=days), end=today + dt.timedelta(days=1), now=now,
                    tz=tz, create_people=False)["cases"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Insert realistic synthetic cases for reports and benchmarks.")
    p.add_argument("--db-url", required=True)
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--years", type=float, default=3.0, help="spread over this many years up to today")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--tz", default="Asia/Shanghai")
    args = p.parse_args(argv)
    now = dt.datetime.now(UTC)
    today = now.astimezone(ZoneInfo(args.tz)).date()
    start = today - dt.timedelta(days=int(args.years * 365.25))
    t0 = time.perf_counter()
    counts = generate(args.db_url, args.cases, start=start, end=today + dt.timedelta(days=1), now=now,
                      seed=args.seed, tz=args.tz,
                      progress=lambda c, s: print(f"\r{c['cases']:,} cases, {c['events']:,} events ({s:.0f} s)",
                                                  end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    print(json.dumps({**counts, "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

