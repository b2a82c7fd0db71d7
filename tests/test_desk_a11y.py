"""The desk pages of issue 20 in headless Chromium: every page a department handler, an agent, a
supervisor and an administrator opens passes axe-core's WCAG level A rules (tests/a11y_support.py),
and the parts that need the browser work there: the department picker's search and lead, the 回访
list that keeps its place after 未接通, the inbox's counts, the supervisor's approval."""
from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestServer

from a11y_support import assert_accessible
from cases.store import Actor
from desk_support import make_users, new_case
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)
from test_desk_browser import sign_in

pytestmark = [pytest.mark.browser]


async def test_desk_pages_pass_axe_and_work_in_the_browser(services_factory, sqlite_url, browser):  # noqa: F811
    services = await services_factory(sqlite_url)  # the pages, not the database: SQLite alone
    users = await make_users(services)
    agent, dept = Actor.for_user(users["agent1"]), Actor.for_user(users["dept1"])
    fresh = await new_case(services)
    asked = await new_case(services, description="楼道堆放杂物，存在消防隐患")
    replied = await new_case(services, description="路灯不亮已经一周了")
    for c in (asked, replied):
        await services.store.apply(c.number, "dispatch", agent, department_code="zjj")
        await services.store.apply(c.number, "accept", dept)
    await services.store.apply(asked.number, "request_extend", dept, comment="需协调多部门",
                               deadline=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))
    await services.store.apply(replied.number, "reply", dept, reply="已修复")
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    contexts = []
    try:
        base = str(server.make_url("")).rstrip("/")
        errors: list[str] = []

        async def page_for(username: str):
            ctx = await browser.new_context(locale="zh-CN", bypass_csp=True, viewport={"width": 1280, "height": 900})
            contexts.append(ctx)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(page, base, username)
            return page

        async def check(page, path: str) -> None:
            await page.goto(base + path)
            await assert_accessible(page, path)

        # the department handler lands on its inbox
        d = await page_for("dept1")
        assert d.url.endswith("/desk/inbox")
        assert await d.text_content("#count-working") == "1"  # the other one is replied
        await assert_accessible(d, "/desk/inbox")
        for path in ("/desk/inbox?view=overdue", f"/desk/cases/{asked.number}", "/desk/cases", "/desk/reminders"):
            await check(d, path)

        # the agent: the case page with its picker, the follow-up list
        a = await page_for("agent1")
        await check(a, f"/desk/cases/{fresh.number}")
        await a.fill("#department-search", "生态")
        visible = await a.eval_on_selector_all("#department-list li", "els => els.filter(e => !e.hidden).length")
        assert visible == 1
        await a.check("#dep-sthjj")
        assert await a.is_checked("#lead-sthjj") or await a.is_checked("#dep-sthjj")
        await check(a, "/desk/followup")
        await a.select_option(f"#result-{replied.number}", "unreached")
        async with a.expect_navigation():
            await a.click(f"#row-{replied.number} button[type=submit]")
        assert "/desk/followup" in a.url and await a.is_visible(f"#row-{replied.number}")
        assert "未接通" in await a.text_content(".flash")
        await assert_accessible(a, "/desk/followup after 未接通")
        await check(a, "/desk/intake")

        # the supervisor: approvals, reports (a result, the service ratings, a bad period)
        s = await page_for("super1")
        await check(s, "/desk/approvals")
        async with s.expect_navigation():
            await s.click("button[id^=approve-]")
        assert await s.is_visible("#approvals-empty")
        for path in ("/desk/reports?report=volume&by=kind&granularity=week",
                     "/desk/reports?report=service", "/desk/reports?first=2026-11-30&last=2026-11-01"):
            await check(s, path)
        assert "结束日期 2026-11-01 早于开始日期 2026-11-30" in await s.text_content("#report-error")

        m = await page_for("admin1")
        await check(m, "/desk/admin/deadlines")
        assert "紧急（所有紧急工单" in await m.content()
        assert errors == []
    finally:
        for ctx in contexts:
            await ctx.close()
        await server.close()
