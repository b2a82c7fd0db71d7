"""Ratings kept apart (issue 20): the satisfaction given at the end of a conversation rates the
SERVICE (the bot, or the agent who took the hand-off) and lands in service_ratings and the 服务评价
report; the case's own satisfaction is the OUTCOME rating of its 回访, the only one the 满意率, the
department's view and the printed 受理单 show. Migration 0015 separates the rows already stored."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cases.conversations import ConversationLog
from cases.db import make_sync_engine
from cases.migrate import upgrade
from cases.models import Handoff, ServiceRating
from cases.reports import Period, run_report
from cases.store import Actor
from desk_support import login, make_users, new_case


def _rates(table) -> dict:
    return {r["code"]: (r["numerator"], r["denominator"]) for r in table.rows}


async def test_a_chat_rating_rates_the_agent_and_the_follow_up_rates_the_case(services, db_url, client_factory):
    users = await make_users(services)
    agent, dept = Actor.for_user(users["agent1"]), Actor.for_user(users["dept1"])
    case = await new_case(services)
    log = ConversationLog(services.db)
    await log.add_case("chat-rated", "webchat", case.number)
    async with services.db.write() as s:
        s.add(Handoff(conversation_id="chat-rated", channel="webchat", reason="asked",
                      taken_by=users["agent1"].id, taken_at=dt.datetime.now(dt.timezone.utc)))
    await log.record_satisfaction("chat-rated", "webchat", 3)
    await log.record_satisfaction("chat-rated", "webchat", 2)  # rated again: the answer is replaced
    assert (await services.store.get(case.number)).satisfaction is None  # still 已登记: nothing to rate yet
    async with services.db.read() as s:
        [rating] = (await s.execute(sa.select(ServiceRating))).scalars().all()
    assert (rating.value, rating.agent_id) == (2, users["agent1"].id)

    for action, actor, kw in (("dispatch", agent, {"department_code": "zjj"}), ("accept", dept, {}),
                              ("reply", dept, {"reply": "已处理"}), ("follow_up", agent, {"satisfaction": 1})):
        await services.store.apply(case.number, action, actor, **kw)
    assert (await services.store.get(case.number)).satisfaction == 1

    today = dt.datetime.now(dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    period = Period.between(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            quality = _rates(run_report(conn, "quality", period, summary=False).table)
            service = run_report(conn, "service", period).table
    finally:
        engine.dispose()
    assert quality["satisfied_rate"] == (1, 1) and quality["dissatisfied_rate"] == (0, 1)
    assert [(r["label"], r["rated"], r["average"], r["satisfied"]) for r in service.rows] == [("1024", 1, 1, 0)]

    # the department's page and the printed sheet show the outcome only; the agent sees both
    c = await client_factory(services)
    await login(c, "dept1")
    page = await (await c.get(f"/desk/cases/{case.number}")).text()
    assert 'id="case-satisfaction">满意<' in page and 'id="service-rating"' not in page
    sheet = await (await c.get(f"/desk/cases/{case.number}/print/sheet")).text()
    assert 'id="sheet-satisfaction">满意<' in sheet and "一般" not in sheet
    a = await client_factory(services)
    await login(a, "agent1")
    page = await (await a.get(f"/desk/cases/{case.number}")).text()
    assert 'id="service-rating">一般（工号 1024）' in page


def test_migration_0015_separates_the_ratings_already_stored(tmp_path):
    """Rows written before 0015: a case rated only by a chat survey loses that rating (it was the
    service's) and the conversation keeps it; a case followed up keeps its 回访 answer even when a
    survey came later; the conversation's agent is whoever took its hand-off. And a granted 延期
    that never reached the case's deadline (generated histories) moves it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0013")
    engine = make_sync_engine(url)
    now = "2026-11-20 08:00:00"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, username, display_name, password_hash, role, active, created_at) "
                             "VALUES (7, 'a7', 'a7', 'x', 'agent', 1, :t)"), {"t": now})
        for cid, number, sat in ((1, "2611200000011", 3), (2, "2611200000029", 2)):
            conn.execute(sa.text(
                "INSERT INTO cases (id, number, password_hash, kind, title, description, location, happened, "
                "contact_name, contact_phone, contact_email, anonymous, wants_reply, channel, urgency, status, reply, "
                "satisfaction, locale, created_at, updated_at, deadline) VALUES (:id, :n, 'x', 'complaint', 't', 'd', "
                "'', '', '', '', '', 0, 1, 'webchat', 'normal', :st, '', :sat, 'zh', :t, :t, '2026-11-25 10:00:00')"),
                {"id": cid, "n": number, "sat": sat, "t": now, "st": "registered" if cid == 1 else "followed_up"})
        conn.execute(sa.text("INSERT INTO conversations (id, channel, caller, state, satisfaction, case_numbers, "
                             "started_at, updated_at) VALUES ('c1', 'webchat', '', 'bot', 3, '[\"2611200000011\"]', :t, :t)"),
                     {"t": now})
        conn.execute(sa.text("INSERT INTO handoffs (conversation_id, channel, reason, summary, transcript, requested_at, "
                             "taken_by, taken_at) VALUES ('c1', 'webchat', 'asked', '{}', '[]', :t, 7, :t)"), {"t": now})
        events = [(1, "survey", '{"satisfaction": 3, "conversation": "c1"}'),
                  (2, "follow_up", '{"satisfaction": 1}'), (2, "survey", '{"satisfaction": 2}'),
                  (1, "extend", '{"deadline": "2026-12-09T10:00:00+00:00"}')]  # granted, never applied
        for case_id, action, data in events:
            conn.execute(sa.text("INSERT INTO case_events (case_id, at, actor, channel, action, comment, public, data) "
                                 "VALUES (:c, :t, 'citizen', 'webchat', :a, '', 0, :d)"),
                         {"c": case_id, "t": now, "a": action, "d": data})
    engine.dispose()
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            cases = dict(conn.execute(sa.text("SELECT id, satisfaction FROM cases")).all())
            deadlines = dict(conn.execute(sa.text("SELECT id, deadline FROM cases")).all())
            ratings = conn.execute(sa.text("SELECT conversation_id, case_id, agent_id, value FROM service_ratings "
                                           "ORDER BY id")).all()
    finally:
        engine.dispose()
    assert cases == {1: None, 2: 1}
    assert [str(deadlines[1])[:16], str(deadlines[2])[:16]] == ["2026-12-09 10:00", "2026-11-25 10:00"]
    assert [tuple(r) for r in ratings] == [("c1", 1, 7, 3), (None, 2, None, 2)]
