"""The desk in a real browser (Debian's headless Chromium, two browser contexts): a citizen chats
with the bot and asks for a human, an agent takes the chat on the desk, they exchange messages,
the agent hands back, the citizen rates the service. And a department handler cannot open another
department's case."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from cases.conversations import ConversationLog
from cases.store import Actor
from desk_support import PASSWORD, make_users, new_case
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)

pytestmark = [pytest.mark.browser]


async def sign_in(page, base: str, username: str) -> None:
    await page.goto(f"{base}/desk/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector(".desk-top nav")


@pytest.mark.bot
async def test_agent_takes_over_a_web_chat_and_the_citizen_rates(engine, services, browser):  # noqa: F811
    await make_users(services)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        # the page CSP forbids eval; Playwright's wait_for_function needs it
        citizen_ctx = await browser.new_context(locale="zh-CN", bypass_csp=True)
        agent_ctx = await browser.new_context(locale="zh-CN", bypass_csp=True, viewport={"width": 1280, "height": 900})
        citizen, agent = await citizen_ctx.new_page(), await agent_ctx.new_page()
        errors = []
        for p in (citizen, agent):
            p.on("pageerror", lambda exc: errors.append(str(exc)))

        await sign_in(agent, base, "agent1")
        await agent.goto(f"{base}/desk/live")
        await agent.wait_for_selector("#queue-empty")
        await agent.wait_for_function("document.body.dataset.live === '1'")  # the desk socket is open

        await citizen.goto(f"{base}/")
        await citizen.click("#hl-chat-open")
        await citizen.wait_for_selector(".hl-bot")
        await citizen.fill("#hl-chat-input", "我要转人工客服")
        await citizen.press("#hl-chat-input", "Enter")
        await citizen.wait_for_function("document.querySelector('#hl-chat-log').innerText.includes('人工')")
        # while waiting: told once, the place in the queue shown, a message acknowledged
        await citizen.wait_for_function("document.querySelector('#hl-chat-status').innerText.includes('下一位')")
        await citizen.fill("#hl-chat-input", "有人吗？")
        await citizen.press("#hl-chat-input", "Enter")
        await citizen.wait_for_function("document.querySelector('#hl-chat-log').innerText.includes('已收到您的消息')")
        # counted once the acknowledgement is shown: the notice came before it (the queue place
        # may be shown a moment before the notice's line), and a second notice would be there too
        assert (await citizen.inner_text("#hl-chat-log")).count("转接") == 1

        # the request appears on the desk without reloading; the agent takes it
        take = agent.locator("button.take")
        await take.wait_for(timeout=15000)
        await take.click()
        await agent.wait_for_selector("#chat-input")
        panel = await agent.inner_text("main")
        assert "有人吗？" in panel and not any(w in panel for w in ("request_human", "did_business", "failures"))
        await citizen.wait_for_function(
            "document.querySelector('#hl-chat-log').innerText.includes('工号 1024 为您服务')", timeout=10000)

        # citizen → agent
        await citizen.fill("#hl-chat-input", "楼上每天半夜装修，吵得睡不着")
        await citizen.press("#hl-chat-input", "Enter")
        await agent.wait_for_function(
            "document.querySelector('#chat-log').innerText.includes('楼上每天半夜装修')", timeout=10000)
        # agent → citizen (the bot stays silent meanwhile)
        bot_lines = await citizen.locator(".hl-bot").count()
        await agent.fill("#chat-input", "您好，我马上为您登记噪音投诉。")
        await agent.press("#chat-input", "Enter")
        await citizen.wait_for_function(
            "[...document.querySelectorAll('.hl-agent')].some(e => e.innerText.includes('我马上为您登记噪音投诉'))",
            timeout=10000)
        assert await citizen.locator(".hl-bot").count() == bot_lines
        await agent.screenshot(path="/tmp/desk-chat.png")

        # the agent hands back; the citizen is asked to rate and answers 满意
        await agent.click("#hand-back")
        await agent.wait_for_selector("#queue-empty")
        await citizen.wait_for_selector(".hl-quick >> text=满意", timeout=10000)
        await citizen.click(".hl-quick >> text=满意")
        log = ConversationLog(services.db)
        conversation = None
        for _ in range(100):
            conversation = next(iter([c for c in [await log.get(cid) for cid in await _webchat_ids(services)] if c]), None)
            if conversation and conversation.satisfaction == 1:
                break
            await citizen.wait_for_timeout(100)
        assert conversation is not None and conversation.satisfaction == 1 and conversation.state == "bot"
        await citizen.screenshot(path="/tmp/desk-citizen.png")
        assert errors == []
        await citizen_ctx.close()
        await agent_ctx.close()
    finally:
        await server.close()


async def _webchat_ids(services) -> list[str]:
    from sqlalchemy import select

    from cases.models import Conversation
    async with services.db.read() as s:
        return list((await s.execute(select(Conversation.id).where(Conversation.channel == "webchat"))).scalars())


async def test_department_handler_cannot_open_another_departments_case(services, browser):  # noqa: F811
    users = await make_users(services)
    mine, other = await new_case(services), await new_case(services)
    agent = Actor.for_user(users["agent1"])
    await services.store.apply(mine.number, "dispatch", agent, department_code="zjj")
    await services.store.apply(other.number, "dispatch", agent, department_code="sthjj")
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        ctx = await browser.new_context(locale="zh-CN")
        page = await ctx.new_page()
        await sign_in(page, base, "dept1")
        await page.goto(f"{base}/desk/cases")
        assert mine.number in await page.inner_text("#case-table")
        assert other.number not in await page.inner_text("#case-table")
        await page.click(f"text={mine.number}")
        await page.click("#do-accept")
        await page.wait_for_selector("text=已签收")
        resp = await page.goto(f"{base}/desk/cases/{other.number}")
        assert resp.status == 403 and "没有权限" in await page.inner_text("body")
        await ctx.close()
    finally:
        await server.close()
