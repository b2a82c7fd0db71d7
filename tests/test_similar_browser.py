"""相似工单 in a real browser (Debian's headless Chromium): an agent merges a similar case from the
case page (confirming the dialog), and at intake the caller's open case appears as the number is
typed and the call is added to it."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from desk_support import make_users, new_case
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)
from test_desk_browser import sign_in

pytestmark = [pytest.mark.browser]


async def test_agent_merges_from_the_panel_and_adds_a_call_at_intake(services, browser):  # noqa: F811
    await make_users(services)
    master = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    dup = await new_case(services, description="东门烧烤摊又营业到凌晨两点，太吵了")
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        ctx = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        dialogs = []

        async def accept(dialog):
            dialogs.append(dialog.message)
            await dialog.accept()
        page.on("dialog", accept)
        await sign_in(page, base, "agent1")
        await page.goto(f"{base}/desk/cases/{master.number}")
        item = page.locator(f"#similar-cases li[data-case='{dup.number}']")
        assert "同一市民" in await item.inner_text()
        await item.locator("button[value='merge_here']").click()
        await page.wait_for_selector(f"#merged-{dup.number}")
        assert dialogs and "已合并" in dialogs[0]
        assert "东门烧烤摊又营业到凌晨两点" in await page.inner_text(f"#merged-{dup.number}")
        assert (await services.store.get(dup.number)).status == "merged"

        await page.goto(f"{base}/desk/intake")
        await page.select_option("#intake-kind", "complaint")
        await page.fill("#intake-location", "幸福小区东门")
        await page.fill("#intake-phone", "13812345678")
        button = page.locator(f"#similar-box li[data-case='{master.number}'] button.supplement-to")
        await button.wait_for(timeout=10000)
        assert dup.number not in await page.inner_text("#similar-box")  # merged: no longer open
        await page.fill("#intake-description", "烧烤摊今晚还在营业，油烟也很大")
        await button.click()
        await page.wait_for_selector("text=已将本次来电内容补充到工单")
        events = await services.store.events(master.id)
        assert any(e.action == "supplement" and "今晚还在营业" in e.comment for e in events)
        assert not errors, errors
        await ctx.close()
    finally:
        await server.close()
