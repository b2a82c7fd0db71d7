"""The department's side of the desk and the hotline centre's approvals (issue 20): the inbox a
handler lands on (待签收 / 办理中 / 即将超期 / 已超期 with counts), 延期 and 退回 as requests that a
supervisor approves or refuses (not before signing; an approved extension moves the deadline and
takes the case off the overdue lists), files attached to a reply (type and size checked), and the
agent's side of a case: POST-redirect-GET, the 回访 list with 未接通, 重办 named as such, and the
department picker's checkboxes. On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import re

import aiohttp
from sqlalchemy import select, update

from cases.models import Attachment, Case, CaseRequest
from cases.reminders import ReminderScheduler
from desk_support import csrf_of, new_case, post
from test_desk import desk  # noqa: F401  (users and signed-in clients)

LOCAL = dt.timezone(dt.timedelta(hours=8))  # the desk's zone (Asia/Shanghai) for typed times


def count(html: str, view: str) -> int:
    return int(re.search(rf'id="count-{view}">(\d+)<', html).group(1))


async def test_inbox_requests_and_the_centres_decisions(services, desk):  # noqa: F811
    users, signed_in = desk
    case = await new_case(services)
    other = await new_case(services, description="楼道堆放杂物，存在消防隐患")
    agent, dept, boss = await signed_in("agent1"), await signed_in("dept1"), await signed_in("super1")
    for c in (case, other):
        await post(agent, f"/desk/cases/{c.number}/action", {"action": "dispatch", "department": "zjj"})

    # the handler lands on the inbox: both cases wait to be signed for
    resp = await dept.get("/desk", allow_redirects=False)
    assert resp.headers["Location"] == "/desk/inbox"
    html = await (await dept.get("/desk/inbox")).text()
    assert count(html, "to_sign") == 2 and count(html, "working") == 0 and case.number in html

    # no request before signing, and no extension by the department alone
    later = (dt.datetime.now(LOCAL) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    resp = await post(dept, f"/desk/cases/{case.number}/action",
                      {"action": "request_extend", "deadline": later, "comment": "需协调多部门"})
    assert resp.status == 409
    assert (await post(dept, f"/desk/cases/{case.number}/action", {"action": "extend", "deadline": later,
                                                                   "comment": "自行延期"})).status == 403
    page = await (await dept.get(f"/desk/cases/{case.number}")).text()
    assert 'value="extend"' not in page and 'value="return"' not in page
    assert (await post(dept, f"/desk/cases/{case.number}/action", {"action": "accept"})).status == 200

    # signed for and overdue: on the 已超期 view and the reminders' overdue list
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    async with services.db.write() as s:
        await s.execute(update(Case).where(Case.number == case.number).values(deadline=past))
    html = await (await dept.get("/desk/inbox?view=overdue")).text()
    assert count(html, "overdue") == 1 and count(html, "working") == 1 and case.number in html
    assert case.number in await (await boss.get("/desk/reminders")).text()
    # the automatic 督办 names the deadline in the desk's time zone, not in UTC
    await ReminderScheduler(services.db, thresholds_h=[24]).run_once()
    history = (await (await boss.get(f"/desk/cases/{case.number}")).text()).split('id="events"')[1]
    assert "督办" in history and f"办理时限 {past.astimezone(LOCAL):%Y-%m-%d %H:%M}" in history
    assert f"{past:%Y-%m-%d %H:%M}" not in history
    reminders = await (await boss.get("/desk/reminders")).text()
    assert f"{past.astimezone(LOCAL):%Y-%m-%d %H:%M}" in reminders.split('id="recent"')[1]

    resp = await post(dept, f"/desk/cases/{case.number}/action",
                      {"action": "request_extend", "deadline": later, "comment": "需协调多部门"})
    assert resp.status == 200 and (await services.store.get(case.number)).deadline == past  # asked, not granted
    resp = await post(dept, f"/desk/cases/{case.number}/action",
                      {"action": "request_extend", "deadline": later, "comment": "再次申请"})
    assert resp.status == 400 and "正在等待热线中心审批" in await resp.text()
    assert "等待热线中心审批的申请" in await (await dept.get("/desk/inbox")).text()
    assert (await dept.get("/desk/approvals")).status == 403 and (await agent.get("/desk/approvals")).status == 403

    # the supervisor approves: the deadline itself moves, the case leaves the overdue lists
    listing = await (await boss.get("/desk/approvals")).text()
    request_id = re.search(r'id="approve-(\d+)"', listing).group(1)
    assert case.number in listing and "需协调多部门" in listing
    resp = await post(boss, f"/desk/approvals/{request_id}", {"decision": "approve"}, page="/desk/approvals",
                      allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/desk/approvals?done=approved")
    granted = await services.store.get(case.number)
    assert granted.deadline.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M") == later
    html = await (await dept.get("/desk/inbox?view=overdue")).text()
    assert count(html, "overdue") == 0 and case.number not in html
    assert case.number not in (await (await boss.get("/desk/reminders")).text()).split('id="approaching"')[0]
    # deciding twice changes nothing
    resp = await post(boss, f"/desk/approvals/{request_id}", {"decision": "refuse", "comment": "x"},
                      page="/desk/approvals")
    assert resp.status == 400 and "已经处理过" in await resp.text()

    # a return: refused needs a reason; approved sends the case back to the hotline
    await post(dept, f"/desk/cases/{case.number}/action", {"action": "request_return", "comment": "不属于本部门职责"})
    async with services.db.read() as s:
        pending = (await s.execute(select(CaseRequest.id).where(CaseRequest.decision.is_(None)))).scalar()
    resp = await post(boss, f"/desk/approvals/{pending}", {"decision": "refuse"}, page="/desk/approvals")
    assert resp.status == 400 and (await services.store.get(case.number)).status == "accepted"
    await post(boss, f"/desk/approvals/{pending}", {"decision": "refuse", "comment": "属于住建局职责，请继续办理"},
               page="/desk/approvals")
    page = await (await dept.get(f"/desk/cases/{case.number}")).text()
    assert "未同意" in page and "属于住建局职责" in page
    await post(dept, f"/desk/cases/{case.number}/action", {"action": "request_return", "comment": "确需退回"})
    async with services.db.read() as s:
        pending = (await s.execute(select(CaseRequest.id).where(CaseRequest.decision.is_(None)))).scalar()
    await post(boss, f"/desk/approvals/{pending}", {"decision": "approve"}, page="/desk/approvals")
    assert (await services.store.get(case.number)).status == "returned"
    actions = [e.action for e in await services.store.events(case.id)]
    assert actions[-6:] == ["request_extend", "extend", "request_return", "refuse_request", "request_return", "return"]


async def test_reply_with_files_and_the_agents_follow_up_list(services, desk, monkeypatch):  # noqa: F811
    users, signed_in = desk
    monkeypatch.setattr(services.store, "attachment_max_bytes", 4096)
    case = await new_case(services)
    agent, dept = await signed_in("agent1"), await signed_in("dept1")
    # the picker: checkboxes with a lead, searchable; the lead goes first whatever the order
    page = await (await agent.get(f"/desk/cases/{case.number}")).text()
    assert 'type="checkbox" name="department" value="zjj"' in page and 'id="department-search"' in page
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "dispatch", "department": ["cgj", "zjj"], "lead": "zjj"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/desk/cases/{case.number}?done=dispatch"
    assert (await services.store.get(case.number)).department.code == "zjj"
    # a reload of the action's address shows the case; it does not act
    resp = await agent.get(f"/desk/cases/{case.number}/action", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/desk/cases/{case.number}"
    await post(dept, f"/desk/cases/{case.number}/action", {"action": "accept"})

    async def reply(filename, content_type, data):
        form = aiohttp.FormData(quote_fields=False)  # the file's name as a browser sends it (UTF-8)
        for k, v in {"action": "reply", "reply": "已现场核查并整改。",
                     "csrf_token": await csrf_of(dept, f"/desk/cases/{case.number}")}.items():
            form.add_field(k, v)
        form.add_field("file", data, filename=filename, content_type=content_type)
        return await dept.post(f"/desk/cases/{case.number}/action", data=form)

    resp = await reply("tool.exe", "application/octet-stream", b"MZ...")
    assert resp.status == 400 and "只能上传这些类型的文件" in await resp.text()
    resp = await reply("big.png", "image/png", b"\x89PNG" + b"0" * services.store.attachment_max_bytes)
    assert resp.status == 400 and "文件太大" in await resp.text()
    assert (await services.store.get(case.number)).status == "accepted"  # nothing changed
    resp = await reply("现场照片.png", "image/png", b"\x89PNG\r\n\x1a\n photo")
    assert resp.status == 200 and "现场照片.png" in await resp.text()
    async with services.db.read() as s:
        assert (await s.execute(select(Attachment.kind, Attachment.filename))).all() == [("reply", "现场照片.png")]

    # 回访: nothing chosen in advance; 未接通 keeps the case on the list and the agent on the list
    html = await (await agent.get("/desk/followup")).text()
    row = html[html.index(f'id="row-{case.number}"'):]
    assert '<option value="">' in row and "selected" not in row.split("</tr>")[0]
    assert f'<label class="sr-only" for="result-{case.number}">' in row
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "follow_up", "satisfaction": "unreached", "next": "/desk/followup"},
                      page="/desk/followup", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/desk/followup?")
    html = await (await agent.get(resp.headers["Location"])).text()
    assert "未接通" in html and f'id="row-{case.number}"' in html and "未接通 1 次" in html
    assert (await services.store.get(case.number)).status == "replied"
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "follow_up", "satisfaction": "", "next": "/desk/followup"}, page="/desk/followup")
    assert "没有记录" in await resp.text()
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "follow_up", "satisfaction": "3", "next": "/desk/followup"}, page="/desk/followup")
    html = await resp.text()
    assert "不满意" in html and f'id="row-{case.number}"' not in html
    page = await (await agent.get(f"/desk/cases/{case.number}")).text()
    assert re.search(r'id="do-dispatch">重办<', page)  # reopening is named so, not 派发
