"""The agents' desk over HTTP: sign-in, sessions, CSRF, who may see and do what, and the case
flows (dispatch → sign for → reply → follow-up → reopen → close), on SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cases.models import CaseEvent, Department
from desk_support import PASSWORD, csrf_of, login, make_users, new_case, post


@pytest.fixture
async def desk(services, client_factory):
    """A running gateway, its users, and a signed-in client factory."""
    users = await make_users(services)

    async def signed_in(username: str):
        c = await client_factory(services)
        resp = await login(c, username)
        assert resp.status == 302, await resp.text()
        return c

    return users, signed_in


async def test_pages_need_a_login(services, client):
    resp = await client.get("/desk/cases", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/desk/login?next=")
    resp = await client.get("/desk/live", allow_redirects=False)
    assert resp.status == 302


async def test_login_sets_a_secure_session_and_logout_ends_it(services, client):
    await make_users(services)
    resp = await login(client, "agent1", "wrong-password")
    assert resp.status == 401 and "不正确" in await resp.text()
    resp = await login(client, "agent1")
    assert resp.status == 302 and resp.headers["Location"] == "/desk"
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("hotline_desk="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert (await client.get("/desk/cases")).status == 200
    token = await csrf_of(client, "/desk/cases")
    resp = await client.post("/desk/logout", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 302
    assert (await client.get("/desk/cases", allow_redirects=False)).status == 302
    # the old cookie value is dead on the server too (its token row is gone)
    value = cookie.split(";")[0].split("=", 1)[1]
    assert await services.accounts.user_for_token(value) is None


async def test_login_form_needs_its_csrf_token(services, client):
    await make_users(services)
    await client.get("/desk/login")
    resp = await client.post("/desk/login", data={"username": "agent1", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 400


async def test_csrf_is_enforced_on_actions(services, desk):
    users, signed_in = desk
    agent = await signed_in("agent1")
    case = await new_case(services)
    await agent.get(f"/desk/cases/{case.number}")
    resp = await agent.post(f"/desk/cases/{case.number}/action", data={"action": "dispatch", "department": "zjj"})
    assert resp.status == 400
    resp = await agent.post(f"/desk/cases/{case.number}/action",
                            data={"action": "dispatch", "department": "zjj", "csrf_token": "forged.1.abc"})
    assert resp.status == 400
    assert (await services.store.get(case.number)).status == "registered"


async def test_department_handler_sees_and_acts_only_on_its_department(services, desk):
    users, signed_in = desk
    mine = await new_case(services, description="物业不作为，电梯坏了一个月没人修")
    other = await new_case(services, description="河道有异味，疑似工厂偷排污水")
    agent = await signed_in("agent1")
    assert (await post(agent, f"/desk/cases/{mine.number}/action", {"action": "dispatch", "department": "zjj"})).status == 200
    assert (await post(agent, f"/desk/cases/{other.number}/action", {"action": "dispatch", "department": "sthjj"})).status == 200

    dept = await signed_in("dept1")  # 住建局
    listing = await (await dept.get("/desk/cases")).text()
    assert mine.number in listing and other.number not in listing
    # asking for another department in the filter does not widen the view
    sthjj = (await services.store.departments())
    sthjj_id = next(d.id for d in sthjj if d.code == "sthjj")
    listing = await (await dept.get(f"/desk/cases?department={sthjj_id}")).text()
    assert other.number not in listing
    assert (await dept.get(f"/desk/cases/{other.number}")).status == 403
    resp = await post(dept, f"/desk/cases/{other.number}/action", {"action": "accept"})
    assert resp.status == 403
    assert (await services.store.get(other.number)).status == "dispatched"
    assert (await dept.get(f"/desk/cases/{other.number}/print/sheet.pdf")).status == 403
    # department handlers do not get the hotline's screens
    assert (await dept.get("/desk/live")).status == 403
    assert (await dept.get("/desk/intake")).status == 403
    assert (await dept.get("/desk/admin/departments")).status == 403


async def test_only_admins_maintain_data(services, desk):
    users, signed_in = desk
    for name in ("agent1", "super1", "dept1"):
        c = await signed_in(name)
        assert (await c.get("/desk/admin/departments")).status == 403
    agent = await signed_in("agent1")
    token = await csrf_of(agent, "/desk/cases")
    resp = await agent.post("/desk/admin/departments", data={"code": "xfj", "name": "信访局", "csrf_token": token})
    assert resp.status == 403
    admin = await signed_in("admin1")
    resp = await post(admin, "/desk/admin/departments", {"code": "xfj", "name": "信访局", "phone": "12345678",
                                                         "active": "1"}, page="/desk/admin/departments")
    assert resp.status == 200 and "信访局" in await resp.text()
    # a bad value is named and changes nothing
    resp = await post(admin, "/desk/admin/departments", {"code": "", "name": "无编码"}, page="/desk/admin/departments")
    assert resp.status == 400 and "请填写编码" in await resp.text()
    resp = await post(admin, "/desk/admin/departments", {"code": "xfj", "name": "重复"}, page="/desk/admin/departments")
    assert resp.status == 409
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Department).where(Department.code == "xfj"))).scalar() == 1
    # a holiday moves deadlines at once
    resp = await post(admin, "/desk/admin/holidays", {"day": "2030-01-02", "name": "测试假日"}, page="/desk/admin/holidays")
    assert resp.status == 200
    import datetime as dt
    assert not services.store.calendar.is_working_day(dt.date(2030, 1, 2))
    # users and roles: a new agent can sign in
    resp = await post(admin, "/desk/admin/users", {"username": "agent9", "display_name": "新坐席", "role": "agent",
                                                   "password": "long-enough-1", "active": "1"}, page="/desk/admin/users")
    assert resp.status == 200, await resp.text()
    assert (await login(await signed_in("admin1"), "agent9", "long-enough-1")).status == 302


async def test_dispatch_sign_reply_follow_up_reopen_close(services, desk):
    users, signed_in = desk
    case = await new_case(services)
    agent, dept = await signed_in("agent1"), await signed_in("dept1")
    page = await (await agent.get(f"/desk/cases/{case.number}")).text()
    assert "建议部门" in page  # the category suggests its department
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "dispatch", "department": ["zjj", "cgj"], "comment": "请三日内现场核查"})
    text = await resp.text()
    assert resp.status == 200 and "已派单" in text
    c = await services.store.get(case.number)
    assert c.status == "dispatched" and c.department.code == "zjj" and c.deadline is not None
    events = await services.store.events(c.id)
    assert events[-1].data["co_departments"] == ["cgj"] and events[-1].actor == "user:agent1"

    for action, data in (("accept", {}), ("reply", {"reply": "已责令物业三日内修复电梯。"})):
        resp = await post(dept, f"/desk/cases/{case.number}/action", {"action": action, **data})
        assert resp.status == 200, action
    # a reply without text is refused and names the field
    assert (await services.store.get(case.number)).status == "replied"

    resp = await post(agent, f"/desk/cases/{case.number}/action", {"action": "follow_up", "satisfaction": "3",
                                                                   "comment": "市民说电梯仍未修好"})
    assert resp.status == 200 and "不满意" in await resp.text()
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "reopen", "department": "zjj", "comment": "市民不满意，请重新办理"})
    assert resp.status == 200
    assert (await services.store.get(case.number)).status == "dispatched"
    for action, data in (("accept", {}), ("reply", {"reply": "电梯已修复，市民确认。"})):
        assert (await post(dept, f"/desk/cases/{case.number}/action", {"action": action, **data})).status == 200
    assert (await post(agent, f"/desk/cases/{case.number}/action", {"action": "close"})).status == 200
    final = await services.store.get(case.number)
    assert final.status == "closed" and final.closed_at is not None
    actions = [e.action for e in await services.store.events(final.id)]
    assert actions == ["register", "dispatch", "accept", "reply", "follow_up", "reopen", "accept", "reply", "close"]


async def test_case_search_filters_and_counts(services, desk):
    users, signed_in = desk
    a = await new_case(services, phone="13900000001", description="路灯不亮已经一周了")
    b = await new_case(services, phone="13900000002", kind="consultation", description="公积金怎么提取", category="")
    agent = await signed_in("agent1")
    text = await (await agent.get("/desk/cases?phone=13900000001")).text()
    assert a.number in text and b.number not in text and "共 1 件" in text
    text = await (await agent.get("/desk/cases?kind=consultation")).text()
    assert b.number in text and a.number not in text
    text = await (await agent.get("/desk/cases?q=路灯")).text()
    assert a.number in text and "共 1 件" in text
    text = await (await agent.get(f"/desk/cases?number={a.number[:6]}&status=registered")).text()
    assert "共 2 件" in text
    resp = await agent.get("/desk/cases?from=not-a-date")
    assert resp.status == 200 and "不是有效的日期" in await resp.text()


async def test_intake_shows_caller_history_and_answers_on_the_spot(services, desk):
    users, signed_in = desk
    old = await new_case(services, phone="13700000009", description="上次反映的噪音问题")
    agent = await signed_in("agent1")
    fragment = await (await agent.get("/desk/api/history?phone=13700000009")).text()
    assert old.number in fragment
    page = await (await agent.get("/desk/intake?phone=13700000009")).text()
    assert old.number in page
    resp = await post(agent, "/desk/intake", {"channel": "phone_agent", "kind": "consultation",
                                              "contact_phone": "13700000009", "description": "社保卡丢了怎么补办",
                                              "outcome": "answered", "answer": "带身份证到任一社保网点补办。"},
                      page="/desk/intake")
    text = await resp.text()
    assert resp.status == 200 and "已登记" in text
    number = re.search(r"受理编号 (\d{13})", text).group(1)
    case = await services.store.get(number)
    assert case.status == "answered" and case.channel == "phone_agent" and case.reply.startswith("带身份证")
    # answered on the spot needs the answer; nothing is stored without it
    before = (await services.store.search(__import__("cases.store", fromlist=["CaseFilter"]).CaseFilter()))[1]
    resp = await post(agent, "/desk/intake", {"channel": "phone_agent", "kind": "consultation",
                                              "contact_phone": "13700000009", "description": "医保怎么报销",
                                              "outcome": "answered"}, page="/desk/intake")
    assert resp.status == 400
    after = (await services.store.search(__import__("cases.store", fromlist=["CaseFilter"]).CaseFilter()))[1]
    assert after == before


async def test_letter_with_scan_is_registered(services, desk):
    users, signed_in = desk
    agent = await signed_in("agent1")
    token = await csrf_of(agent, "/desk/intake")
    import aiohttp
    form = aiohttp.FormData()
    for k, v in {"channel": "letter", "kind": "suggestion", "contact_name": "李先生", "contact_phone": "13600000001",
                 "description": "建议在公园增加儿童游乐设施", "csrf_token": token}.items():
        form.add_field(k, v)
    form.add_field("scan", b"%PDF-1.4 scanned letter", filename="letter.pdf", content_type="application/pdf")
    resp = await agent.post("/desk/intake", data=form)
    text = await resp.text()
    assert resp.status == 200, text
    number = re.search(r"受理编号 (\d{13})", text).group(1)
    case = await services.store.get(number)
    atts = await services.store.attachments(case.id)
    assert case.channel == "letter" and [a.filename for a in atts] == ["letter.pdf"]
    resp = await agent.get(f"/desk/cases/{number}/attachments/{atts[0].id}")
    assert resp.status == 200 and await resp.read() == b"%PDF-1.4 scanned letter"


async def test_every_desk_action_lands_in_the_history(services, desk):
    users, signed_in = desk
    case = await new_case(services)
    agent = await signed_in("agent1")
    await post(agent, f"/desk/cases/{case.number}/action", {"action": "note", "comment": "市民来电补充材料"})
    await post(agent, f"/desk/cases/{case.number}/reminder", {"due_at": "2031-01-01T09:00", "note": "回电"})
    async with services.db.read() as s:
        actions = list((await s.execute(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                                        .order_by(CaseEvent.id))).scalars())
    assert actions == ["register", "note", "set_reminder"]


async def test_intake_references_from_the_knowledge_base_and_past_cases(services, desk):
    users, signed_in = desk
    from cases.store import Actor
    past = await new_case(services, kind="consultation", category="", description="社保卡丢失了怎么补办？")
    await services.store.apply(past.number, "answer", Actor.for_user(users["agent1"]), reply="带身份证到社保网点补办。")
    agent = await signed_in("agent1")
    data = await (await agent.get("/desk/api/references?q=我的社保卡丢了要怎么办")).json()
    assert any(c["number"] == past.number for c in data["cases"])
    assert data["articles"] and all(a["answer"] for a in data["articles"])
    dept = await signed_in("dept1")
    assert (await dept.get("/desk/api/references?q=社保卡")).status == 403


async def test_search_pages_the_same_along_the_date_index(services, monkeypatch):
    """The SQLite plan for many matches (date index, filters unindexed) finds the same cases."""
    import cases.store as store_module
    from cases.store import CaseFilter
    made = [await new_case(services, description=f"第{i}个测试诉求，路灯不亮") for i in range(6)]
    filters = [CaseFilter(statuses=["registered"]), CaseFilter(kinds=["complaint"], number=made[0].number[:6]),
               CaseFilter(category="cxjs"), CaseFilter(text="路灯")]
    plain = [await services.store.search(f, limit=2, offset=1) for f in filters]
    monkeypatch.setattr(store_module, "DENSE_MATCHES", 1)
    dense = [await services.store.search(f, limit=2, offset=1) for f in filters]
    assert [([c.number for c in rows], n) for rows, n in plain] == [([c.number for c in rows], n) for rows, n in dense]
    assert plain[0][1] == 6 and len(plain[0][0]) == 2


def test_desk_texts_exist_in_chinese_and_english():
    """Every desk text a template or handler names is in zh.yml, and every one has its English."""
    from pathlib import Path

    from hotline.i18n import _flatten
    import yaml

    root = Path(__file__).resolve().parent.parent / "channels" / "desk"
    catalogs = {l: _flatten(yaml.safe_load((root.parent.parent / "hotline" / "locales" / f"{l}.yml")
                                           .read_text(encoding="utf-8"))) for l in ("zh", "en")}
    named = set()
    for path in [*root.glob("templates/desk_*.html"), *root.glob("*.py")]:
        named |= set(re.findall(r"""t\(\s*["'](desk\.[a-z_.]+)["']""", path.read_text(encoding="utf-8")))
    named = {k for k in named if not k.endswith((".", "_"))}  # prefixes of keys built in the template
    from cases.workflow import ACTIONS
    from channels.desk.admin import ENTITIES
    named |= {f"desk.event.{a}" for a in [*ACTIONS, "register", "survey", "attach", "supervise", "set_reminder"]}
    named |= {f"desk.admin.{e}" for e in ENTITIES} | {f"desk.admin.f.{f.name}" for e in ENTITIES.values() for f in e.fields}
    named |= {f"desk.print.{d}" for d in ("sheet", "dispatch", "notice")}
    assert named, "no desk texts found"
    assert sorted(k for k in named if k not in catalogs["zh"]) == []
    assert sorted(k for k in catalogs["zh"] if k.startswith("desk.") and k not in catalogs["en"]) == []


async def test_text_search_counts_up_to_a_limit(services, desk, monkeypatch):
    import channels.desk.casework as casework
    users, signed_in = desk
    for i in range(4):
        await new_case(services, description=f"井盖丢失第{i}处，很危险")
    agent = await signed_in("agent1")
    monkeypatch.setattr(casework, "COUNT_LIMIT", 2)
    text = await (await agent.get("/desk/cases?q=井盖")).text()
    assert "共 2+ 件" in text and text.count('href="/desk/cases/') >= 4
    monkeypatch.setattr(casework, "COUNT_LIMIT", 10)
    assert "共 4 件" in await (await agent.get("/desk/cases?q=井盖")).text()
