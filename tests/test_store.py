"""The case store on SQLite and on a fresh PostgreSQL database."""
import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from cases import approvals
from cases.intake import InvalidInput, validate_case
from cases.models import Attachment, Case, CaseEvent, Reminder
from cases.store import CITIZEN, Actor, CaseFilter, Forbidden, NotFound
from cases.workflow import Channel, IllegalTransition


def complaint(**overrides):
    data = {"kind": "complaint", "description": "幸福小区门口的烧烤摊每天半夜还在营业，油烟和噪音很大",
            "location": "幸福小区东门", "contact_name": "王先生", "contact_phone": "138 1234 5678",
            "category": "hjbh.zswr"}
    data.update(overrides)
    return data


async def staff(services, username, role, dept=None) -> Actor:
    user = await services.accounts.create_user(username, "long-password", role, department_code=dept)
    return Actor.for_user(user)


async def count(services, model) -> int:
    async with services.db.read() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


async def test_a_case_and_its_registration_event_are_stored_together(services):
    codes = await services.store.category_codes()
    inp = validate_case(complaint(category=sorted(c for c in codes if "." in c)[0]), channel=Channel.WEB,
                        known_categories=codes)
    case, password = await services.store.create_case(inp, CITIZEN)
    stored = await services.store.get(case.number)
    assert stored.contact_phone == "13812345678" and stored.status == "registered"
    assert stored.password_hash != password and password not in stored.password_hash
    assert stored.deadline > stored.created_at
    events = await services.store.events(case.id)
    assert [(e.action, e.to_status, e.actor, e.channel) for e in events] == [("register", "registered", "citizen", "web")]


async def test_lookup_needs_the_right_password_and_says_nothing_else(services):
    case, password = await services.store.create_case(validate_case(complaint(category=None), channel="web"))
    assert (await services.store.lookup(case.number, password)).id == case.id
    assert await services.store.lookup(case.number, "000000" if password != "000000" else "111111") is None
    assert await services.store.lookup("2611280000000", password) is None
    assert await services.store.lookup("not a number", password) is None


async def test_validation_refuses_and_stores_nothing(services):
    with pytest.raises(InvalidInput) as exc:
        validate_case({"kind": "nonsense", "description": "", "contact_phone": "12"}, channel="web")
    assert set(exc.value.errors) == {"kind", "description", "contact_phone"}
    with pytest.raises(InvalidInput) as exc:
        await services.store.create_case(validate_case(complaint(category="no.such"), channel="web"))
    assert "category" in exc.value.errors
    assert await count(services, Case) == 0 and await count(services, CaseEvent) == 0


async def test_full_workflow_with_events_and_department_permissions(services):
    agent = await staff(services, "agent", "agent")
    case, _ = await services.store.create_case(validate_case(complaint(category=None), channel="web"))
    handler = await staff(services, "dept", "department", "zjj")
    outsider = await staff(services, "other", "department", "sthjj")

    await services.store.apply(case.number, "dispatch", agent, department_code="zjj", comment="请核查")
    with pytest.raises(Forbidden):
        await services.store.apply(case.number, "accept", outsider)
    with pytest.raises(Forbidden):  # a department cannot dispatch
        await services.store.apply(case.number, "dispatch", handler, department_code="zjj")
    await services.store.apply(case.number, "accept", handler)
    new_deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=40)
    with pytest.raises(Forbidden):  # a department asks; the hotline centre grants
        await services.store.apply(case.number, "extend", handler, deadline=new_deadline, comment="需要现场勘查")
    await services.store.apply(case.number, "request_extend", handler, deadline=new_deadline, comment="需要现场勘查")
    [pending] = await approvals.pending(services.db)
    await approvals.decide(services.store, pending.request.id, True, await staff(services, "super", "supervisor"))
    assert abs((await services.store.get(case.number)).deadline - new_deadline) < dt.timedelta(seconds=1)
    await services.store.apply(case.number, "reply", handler, reply="已责令摊主整改，夜间不再营业。")
    await services.store.apply(case.number, "follow_up", agent, satisfaction=3, comment="市民表示仍有油烟")
    await services.store.apply(case.number, "reopen", agent, department_code="zjj", comment="重办")
    final = await services.store.get(case.number)
    assert final.status == "dispatched" and final.satisfaction == 3
    assert final.reply.startswith("已责令")
    actions = [e.action for e in await services.store.events(case.id)]
    assert actions == ["register", "dispatch", "accept", "request_extend", "extend", "reply", "follow_up", "reopen"]
    public = [e.action for e in await services.store.events(case.id, public_only=True)]
    assert "return" not in public and "register" in public


async def test_illegal_transition_changes_nothing(services):
    agent = await staff(services, "agent", "agent")
    case, _ = await services.store.create_case(validate_case(complaint(category=None), channel="web"))
    with pytest.raises(IllegalTransition, match="registered"):
        await services.store.apply(case.number, "close", agent)
    with pytest.raises(InvalidInput):  # dispatch without a department
        await services.store.apply(case.number, "dispatch", agent)
    with pytest.raises(InvalidInput):  # unknown department
        await services.store.apply(case.number, "dispatch", agent, department_code="nope")
    with pytest.raises(NotFound):
        await services.store.apply("2611280000000", "dispatch", agent, department_code="zjj")
    assert (await services.store.get(case.number)).status == "registered"
    assert len(await services.store.events(case.id)) == 1


async def test_reminders_and_overdue(services):
    agent = await staff(services, "agent", "agent")
    case, _ = await services.store.create_case(validate_case(complaint(category=None), channel="web"))
    await services.store.apply(case.number, "remind", agent, comment="请尽快办理")
    assert await count(services, Reminder) == 1
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=60)
    assert [c.number for c in await services.store.overdue(later)] == [case.number]
    assert await services.store.overdue() == []


async def test_attachments_are_content_addressed_and_size_limited(services):
    case, _ = await services.store.create_case(validate_case(complaint(category=None), channel="web"))
    att = await services.store.add_attachment(case.id, kind="upload", filename="../../etc/photo.jpg",
                                              content_type="image/jpeg", data=b"\xff\xd8jpeg-bytes")
    assert att.filename == "photo.jpg" and att.size == 12
    assert services.store.attachment_path(att.sha256).read_bytes() == b"\xff\xd8jpeg-bytes"
    with pytest.raises(InvalidInput):
        await services.store.add_attachment(case.id, kind="upload", filename="big.bin",
                                            content_type="application/octet-stream",
                                            data=b"x" * (services.store.attachment_max_bytes + 1))
    assert await count(services, Attachment) == 1


async def test_search_filters(services):
    store = services.store
    a, _ = await store.create_case(validate_case(complaint(category="hjbh.zswr"), channel="web"))
    b, _ = await store.create_case(validate_case(
        {"kind": "consultation", "description": "社保卡丢了怎么补办？", "contact_phone": "13900001111"},
        channel="email"))
    rows, total = await store.search(CaseFilter(kinds=["complaint"]))
    assert total == 1 and rows[0].number == a.number
    assert (await store.search(CaseFilter(phone="13900001111")))[1] == 1
    assert (await store.search(CaseFilter(text="社保卡")))[0][0].number == b.number
    assert (await store.search(CaseFilter(category="hjbh")))[1] == 1
    assert (await store.search(CaseFilter(channel="email")))[1] == 1
    assert (await store.search(CaseFilter(number=a.number[:8])))[1] >= 1
    assert (await store.cases_for_phone("+86 138-1234-5678".replace("-", "")))[0].number == a.number


async def test_concurrent_creations_get_distinct_numbers(services):
    inp = validate_case(complaint(category=None), channel="web")
    results = await asyncio.gather(*[services.store.create_case(inp) for _ in range(30)])
    assert len({c.number for c, _ in results}) == 30
    assert await count(services, CaseEvent) == 30
