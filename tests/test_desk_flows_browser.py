"""Issue 20's desk and portal flows clicked through in headless Chromium, one role after another on
the same cases: a department handler signs for a case and asks for more time (a reload does not ask
twice: POST-redirect-GET), replies to another with a file attached; the supervisor approves the
extension on 审批 and the deadline moves, and reads an automatic 督办's deadline in local time; the agent records a 回访 from the list and stays on it,
sees 重办 offered under its own name, sends a canned reply by its shortcut in a live chat and is
told when a shortcut does not exist; the citizen rates the reply on 受理查询."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, update

from cases.conversations import ConversationLog
from cases.handoffs import HandoffDesk
from cases.intake import validate_case
from cases.models import Attachment, Case, CaseRequest
from cases.reminders import ReminderScheduler
from cases.store import Actor
from cases.workflow import Channel
from desk_support import make_users
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)
from test_desk_browser import sign_in

pytestmark = [pytest.mark.browser]


async def _case(services, description: str):
    inp = validate_case({"kind": "complaint", "description": description, "contact_phone": "13812345678",
                         "category": "cxjs.wygl", "location": "幸福小区东门"}, channel=Channel.WEB,
                        known_categories=await services.store.category_codes())
    return await services.store.create_case(inp, Actor("system"))


async def _count(services, model, *conds) -> int:
    async with services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*conds))).scalar()


async def test_department_centre_agent_and_citizen_in_the_browser(services_factory, sqlite_url, browser):  # noqa: F811
    services = await services_factory(sqlite_url)
    users = await make_users(services)
    agent, dept = Actor.for_user(users["agent1"]), Actor.for_user(users["dept1"])
    (asked, _), (replied, password) = await _case(services, "楼道堆放杂物"), await _case(services, "路灯不亮已经一周了")
    overdue, _ = await _case(services, "井盖缺失，夜间容易伤人")
    for c in (asked, replied, overdue):
        await services.store.apply(c.number, "dispatch", agent, department_code="zjj")
    await services.store.apply(replied.number, "accept", dept)
    chat = await ConversationLog(services.db).request_handoff("webchat-flows-browser-01", "webchat", "asked", {}, [])
    await HandoffDesk(services.db).take(chat.id, users["agent1"])
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    contexts, errors = [], []
    try:
        base = str(server.make_url("")).rstrip("/")

        async def page_for(username: str | None):
            ctx = await browser.new_context(locale="zh-CN", bypass_csp=True, viewport={"width": 1280, "height": 900})
            contexts.append(ctx)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            if username:
                await sign_in(page, base, username)
            return page

        # the department: sign for, ask for more time; a reload shows the page, it does not ask again
        d = await page_for("dept1")
        await d.goto(f"{base}/desk/cases/{asked.number}")
        async with d.expect_navigation():
            await d.click("#do-accept")
        wanted = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=20)).replace(second=0, microsecond=0)
        await d.fill(".action-request_extend input[name=deadline]", wanted.strftime("%Y-%m-%dT%H:%M"))
        await d.fill(".action-request_extend textarea[name=comment]", "需协调多部门联合处置")
        async with d.expect_navigation():
            await d.click("#do-request_extend")
        assert f"/desk/cases/{asked.number}" in d.url
        await d.reload()
        assert await _count(services, CaseRequest, CaseRequest.case_id == asked.id) == 1
        assert (await services.store.get(asked.number)).deadline != wanted  # asked, not granted
        # a reply with its evidence attached
        await d.goto(f"{base}/desk/cases/{replied.number}")
        await d.fill(".action-reply textarea[name=reply]", "已更换路灯，恢复照明。")
        await d.set_input_files(".action-reply input[type=file]", files=[
            {"name": "现场照片.txt", "mimeType": "text/plain", "buffer": "更换后的路灯照片说明".encode()}])
        async with d.expect_navigation():
            await d.click("#do-reply")
        assert (await services.store.get(replied.number)).status == "replied"
        assert await _count(services, Attachment, Attachment.case_id == replied.id, Attachment.kind == "reply") == 1
        assert "现场照片.txt" in await d.inner_text("main")

        # an overdue case under automatic supervision: its deadline named in the desk's time zone
        past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
        async with services.db.write() as session:
            await session.execute(update(Case).where(Case.id == overdue.id).values(deadline=past))
        await ReminderScheduler(services.db, thresholds_h=[24]).run_once()
        s = await page_for("super1")
        await s.goto(f"{base}/desk/reminders")
        recent = await s.inner_text("#recent")
        local = past.astimezone(ZoneInfo("Asia/Shanghai"))
        assert f"{local:%Y-%m-%d %H:%M}" in recent and f"{past:%Y-%m-%d %H:%M}" not in recent

        # the centre approves: the deadline itself moves
        await s.goto(f"{base}/desk/approvals")
        assert asked.number in await s.inner_text("#approvals")
        async with s.expect_navigation():
            await s.click("button[id^=approve-]")
        assert await s.is_visible("#approvals-empty")
        assert (await services.store.get(asked.number)).deadline == wanted.astimezone(dt.timezone.utc)

        # the agent: 回访 from the list (nothing preselected), back on the list; 重办 named so
        a = await page_for("agent1")
        await a.goto(f"{base}/desk/followup")
        assert await a.eval_on_selector(f"#result-{replied.number}", "s => s.value") == ""
        await a.select_option(f"#result-{replied.number}", "1")
        async with a.expect_navigation():
            await a.click(f"#row-{replied.number} button[type=submit]")
        assert "/desk/followup" in a.url and not await a.is_visible(f"#row-{replied.number}")
        await a.goto(f"{base}/desk/cases/{replied.number}")
        assert (await a.inner_text("#do-dispatch")).strip() == "重办"
        # a canned reply by its shortcut; an unknown shortcut is refused and never sent
        await a.goto(f"{base}/desk/live/chat/webchat-flows-browser-01")
        await a.wait_for_function("document.body.dataset.live === '1'")
        await a.fill("#chat-input", "/hello")
        await a.press("#chat-input", "Enter")
        await a.wait_for_function("document.querySelector('#chat-log').innerText.includes('很高兴为您服务')")
        await a.fill("#chat-input", "/no-such-shortcut")
        await a.press("#chat-input", "Enter")
        await a.wait_for_selector("#chat-error:not([hidden])")
        assert "/no-such-shortcut" in await a.inner_text("#chat-error")
        assert "/no-such-shortcut" not in await a.inner_text("#chat-log")

        # the citizen rated by phone already (回访): 受理查询 offers no second rating
        c = await page_for(None)
        await c.goto(f"{base}/lookup")
        await c.fill("#number", replied.number)
        await c.fill("#password", password)
        async with c.expect_navigation():
            await c.click("#lookup-button")
        assert not await c.is_visible("#rate-form")
        assert errors == []
    finally:
        for ctx in contexts:
            await ctx.close()
        await server.close()


async def test_the_citizen_rates_the_reply_in_the_browser(services_factory, sqlite_url, browser):  # noqa: F811
    services = await services_factory(sqlite_url)
    users = await make_users(services)
    agent, dept = Actor.for_user(users["agent1"]), Actor.for_user(users["dept1"])
    case, password = await _case(services, "小区门口烧烤摊半夜营业，噪音很大")
    await services.store.apply(case.number, "dispatch", agent, department_code="zjj")
    await services.store.apply(case.number, "accept", dept)
    await services.store.apply(case.number, "reply", dept, reply="已责令停止夜间营业。")
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        ctx = await browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 667})
        page = await ctx.new_page()
        await page.goto(f"{base}/lookup")
        await page.fill("#number", case.number)
        await page.fill("#password", password)
        async with page.expect_navigation():
            await page.click("#lookup-button")
        assert "已责令停止夜间营业" in await page.inner_text("#case-reply")
        await page.check("#rate-1")
        await page.fill("#rate-comment", "处理及时")
        async with page.expect_navigation():
            await page.click("#rate-button")
        assert "感谢您的评价" in await page.inner_text("#flash")
        assert not await page.is_visible("#rate-form")
        stored = await services.store.get(case.number)
        assert stored.satisfaction == 1 and stored.status == "followed_up"
        await ctx.close()
    finally:
        await server.close()
