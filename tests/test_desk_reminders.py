"""Reminders (催办/督办) with a controllable clock: each fires once at its threshold, a restarted
scheduler neither repeats nor misses one, an extended deadline arms them again, agents' own
reminders reach their desk, and departments get mail through a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from sqlalchemy import select

from cases.models import CaseEvent, Reminder
from cases.reminders import ReminderScheduler, parse_thresholds
from cases.store import Actor
from channels.desk.casework import REMINDERS
from desk_support import login, make_users, new_case

H = dt.timedelta(hours=1)


async def _dispatched(services, users):
    case = await new_case(services)
    agent = Actor.for_user(users["agent1"])
    return await services.store.apply(case.number, "dispatch", agent, department_code="zjj")


async def test_reminders_fire_once_at_each_threshold_and_survive_a_restart(services):
    users = await make_users(services)
    case = await _dispatched(services, users)
    deadline = case.deadline
    sent = []

    async def notify(n):
        sent.append((n.stage, n.number))

    def scheduler():
        return ReminderScheduler(services.db, thresholds_h=[24, 4], notify=notify)

    s = scheduler()
    assert await s.run_once(deadline - 30 * H) == []
    fired = await s.run_once(deadline - 20 * H)
    assert [(n.stage, n.number) for n in fired] == [("before24", case.number)]
    assert await s.run_once(deadline - 19 * H) == []           # not twice
    assert await scheduler().run_once(deadline - 18 * H) == []  # nor after a restart
    # a scheduler that was down past two thresholds catches up with the latest one only
    assert [n.stage for n in await scheduler().run_once(deadline + 1 * H)] == ["overdue"]
    assert await s.run_once(deadline + 2 * H) == []
    assert sent == [("before24", case.number), ("overdue", case.number)]
    async with services.db.read() as db:
        events = list((await db.execute(select(CaseEvent.action).where(CaseEvent.case_id == case.id,
                                                                       CaseEvent.action.in_(["remind", "supervise"])))).scalars())
        kinds = list((await db.execute(select(Reminder.kind).where(Reminder.case_id == case.id)
                                       .order_by(Reminder.id))).scalars())
    assert events == ["remind", "supervise"] and kinds == ["remind", "supervise"]

    # the hotline centre extends the deadline: the reminders are armed again for the new one
    centre = Actor.for_user(users["super1"])
    extended = await services.store.apply(case.number, "extend", centre, comment="需协调",
                                          deadline=deadline + 72 * H)
    assert await s.run_once(deadline + 3 * H) == []
    assert [n.stage for n in await s.run_once(extended.deadline - 3 * H)] == ["before4"]
    assert [n.stage for n in await s.run_once(extended.deadline + 1 * H)] == ["overdue"]


async def test_closed_cases_are_not_reminded(services):
    users = await make_users(services)
    case = await new_case(services, kind="consultation", category="")
    await services.store.apply(case.number, "answer", Actor.for_user(users["agent1"]), reply="已答复")
    s = ReminderScheduler(services.db, thresholds_h=[24])
    assert await s.run_once(case.deadline + 10 * H) == []


def test_thresholds_setting_is_checked():
    assert parse_thresholds("4, 24") == [24.0, 4.0]
    with pytest.raises(ValueError, match="reminder_thresholds_h"):
        parse_thresholds("soon")


async def test_own_reminder_reaches_the_agents_desk_and_departments_get_mail(services_factory, db_url, client_factory):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            import email
            from email import policy
            msg = email.message_from_bytes(envelope.content, policy=policy.default)
            received.append((envelope.rcpt_tos, msg["Subject"] + "\n" + msg.get_content()))
            return "250 OK"

    import socket
    with socket.socket() as probe:  # a free port (the controller's start-up check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        services = await services_factory(db_url, smtp_url=f"smtp://127.0.0.1:{port}", mail_from="12345@example.org",
                                          reminder_interval_s=0)
        users = await make_users(services)
        client = await client_factory(services)
        await login(client, "agent1")
        case = await _dispatched(services, users)
        scheduler = client.server.app[REMINDERS]
        desk = await client.ws_connect("/desk/ws")
        await desk.receive()  # hello
        due = dt.datetime(2031, 5, 6, 9, 0, tzinfo=dt.timezone.utc)
        await scheduler.add_personal(case.id, users["agent1"].id, due, "给市民回电")
        assert [n.stage for n in await scheduler.run_once(due - dt.timedelta(minutes=1))
                if n.stage == "personal"] == []
        fired = await scheduler.run_once(due + dt.timedelta(seconds=1))
        assert "personal" in [n.stage for n in fired]
        frame = await asyncio.wait_for(desk.receive(), 5)
        while json.loads(frame.data).get("type") != "reminder" or "提醒" not in json.loads(frame.data)["text"]:
            frame = await asyncio.wait_for(desk.receive(), 5)
        assert case.number in json.loads(frame.data)["text"]
        # the overdue case was mailed to its department (住建局's address in the reference data)
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.1)
        assert received, "no mail reached the SMTP server"
        rcpt, content = received[0]
        from cases.models import Department
        async with services.db.read() as s:
            email = (await s.execute(select(Department.email).where(Department.code == "zjj"))).scalar()
        assert rcpt == [email] and case.number in content
        await desk.close()
    finally:
        smtp.stop()


async def test_reminder_lists_by_role(services, client_factory):
    users = await make_users(services)
    mine = await _dispatched(services, users)
    other = await new_case(services)
    await services.store.apply(other.number, "dispatch", Actor.for_user(users["agent1"]), department_code="sthjj")
    s = ReminderScheduler(services.db, thresholds_h=[24])
    await s.run_once(mine.deadline + H)
    sup, dept = await client_factory(services), await client_factory(services)
    await login(sup, "super1"); await login(dept, "dept2")
    # the list uses the real clock: both cases are weeks from their deadline, the records are listed
    page = await (await sup.get("/desk/reminders")).text()
    assert mine.number in page
    page = await (await dept.get("/desk/reminders")).text()
    assert mine.number not in page
