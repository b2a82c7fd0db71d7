"""The chat widget in a real browser: a citizen chats in Chinese until a case number appears,
goes to other pages and reloads with the conversation kept, looks the case up by chat without
being asked its number again, and downloads the transcript."""
import re

import pytest
from aiohttp.test_utils import TestServer

from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.bot]

# what the citizen answers to each question the bot may ask (it asks only what it still needs)
ANSWERS = {"什么地方": "幸福小区东门", "什么时候": "每天晚上十点以后", "联系电话": "13812345678",
           "怎么称呼": "我姓王"}


async def bot_text(page) -> str:
    return await page.inner_text("#hl-chat-log")


async def send(page, text: str, expect: str | None = None) -> None:
    """Type a message and wait for the bot's answer (or for `expect` to appear)."""
    before = await page.locator(".hl-bot").count()
    seen = (await bot_text(page)).count(expect) if expect else 0
    await page.fill("#hl-chat-input", text)
    await page.press("#hl-chat-input", "Enter")
    try:
        if expect:
            await page.wait_for_function(
                "([s, n]) => document.querySelector('#hl-chat-log').innerText.split(s).length - 1 > n",
                arg=[expect, seen], timeout=30000)
        else:
            await page.wait_for_function("n => document.querySelectorAll('.hl-bot').length > n", arg=before,
                                         timeout=30000)
    except Exception:
        raise AssertionError(f"after {text!r} no {expect or 'answer'!r} in: {await bot_text(page)}") from None


async def last_bot(page) -> str:
    return await page.evaluate("[...document.querySelectorAll('.hl-bot')].pop().innerText")


async def test_chat_until_a_case_number_appears_then_look_it_up(engine, services, browser):  # noqa: F811
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        # the page CSP forbids eval; Playwright's wait_for_function needs it
        page = await browser.new_page(locale="zh-CN", viewport={"width": 1000, "height": 900}, bypass_csp=True,
                                     accept_downloads=True)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(str(server.make_url("/")))
        await page.click("#hl-chat-open")
        await page.wait_for_selector("text=投诉举报")
        await page.click(".hl-quick >> text=投诉举报")
        await page.wait_for_function("document.querySelector('#hl-chat-log').innerText.includes('具体情况')")
        await send(page, "小区门口的烧烤摊每天半夜还在营业，油烟和噪音太大了")
        for _ in range(6):
            last = await last_bot(page)
            if "需要回复" in last:
                break
            question = next(k for k in ANSWERS if k in last)
            await send(page, ANSWERS[question])
        await page.click(".hl-quick >> text=需要")
        await page.wait_for_function("document.querySelector('#hl-chat-log').innerText.includes('核对')")
        await send(page, "确认", "受理编号")
        text = await bot_text(page)
        number = re.search(r"受理编号：(\d{13})", text).group(1)
        password = re.search(r"查询密码：(\d{6})", text).group(1)
        assert (await services.store.get(number)).kind == "complaint"
        await page.screenshot(path="/tmp/chat.png")

        # the chat keeps its place across pages and a reload: same conversation, replayed
        for step in ("受理查询", "使用帮助", "reload"):
            if step == "reload":
                await page.reload()
            else:
                await page.click(f"header.top >> text={step}")
            await page.wait_for_selector("#hl-chat[data-ready='1']")
            assert password in await bot_text(page) and await page.is_visible("#hl-chat-input")
        # the case filed a minute ago is not asked for again
        await send(page, "我想查一下办理进度", "已登记")
        assert (await bot_text(page)).count("请输入您的13位受理编号") == 0
        async with page.expect_download() as download:
            await page.click("#hl-chat-download")
        saved = (await (await download.value).path()).read_text(encoding="utf-8")
        assert number in saved and "已登记" in saved
        assert errors == []
        await page.close()
    finally:
        await server.close()
