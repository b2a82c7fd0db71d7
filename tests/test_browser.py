"""The portal in a real browser: Debian's headless Chromium driven by Playwright against the real
application on a free localhost port."""
import os
import re
import shutil

import pytest
from aiohttp.test_utils import TestServer

from conftest import need
from hotline.web import create_app

CHROMIUM = os.environ.get("HOTLINE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("HOTLINE_TEST_SCREENSHOT", "/tmp/portal.png")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        need(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make system-deps`)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        need("the playwright Python package is not installed")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.mark.browser
async def test_submit_in_chinese_then_look_the_case_up(services, browser):
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        page = await browser.new_page(locale="zh-CN", viewport={"width": 1000, "height": 1400})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        await page.goto(f"{base}/submit")
        assert await page.title() == "网上诉求 · 12345政务服务便民热线"
        await page.select_option("#kind", "complaint")
        await page.select_option("#category", "hjbh.zswr")
        await page.fill("#title", "小区门口烧烤摊夜间噪音")
        await page.fill("#description", "幸福小区东门外的烧烤摊每天营业到凌晨两点，噪音和油烟很大，希望有关部门管一管。")
        await page.fill("#location", "幸福小区东门")
        await page.fill("#happened", "每天晚上十点以后")
        await page.fill("#contact_name", "王先生")
        await page.fill("#contact_phone", "138 1234 5678")
        async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/submit")) as posted:
            await page.click("#submit-button")
        response = await posted.value
        await page.wait_for_selector("#case-number")
        # the page showing the password tells the browser and proxies not to keep it
        assert response.status == 200 and response.headers["cache-control"] == "no-store"

        assert await page.inner_text("h1") == "提交成功"
        number = (await page.inner_text("#case-number")).strip()
        password = (await page.inner_text("#case-password")).strip()
        assert re.fullmatch(r"\d{13}", number) and re.fullmatch(r"\d{6}", password)
        await page.screenshot(path=SCREENSHOT, full_page=True)
        stored = await services.store.get(number)
        assert stored.contact_phone == "13812345678" and stored.category.code == "hjbh.zswr"

        await page.click("text=受理查询")
        await page.wait_for_selector("#lookup-button")
        await page.fill("#number", number)
        await page.fill("#password", password)
        await page.click("#lookup-button")
        await page.wait_for_selector("#case-status")
        assert (await page.inner_text("#case-status")).strip() == "已登记"
        assert (await page.inner_text("#case-number")).strip() == number
        assert "受理登记" in await page.inner_text("ol.history")
        assert (await page.inner_text("#case-description")).startswith("幸福小区东门外的烧烤摊")

        # on a 375 px phone the 在线客服 button covers no part of the form, wherever it is scrolled
        await page.set_viewport_size({"width": 375, "height": 667})
        await page.goto(f"{base}/submit")
        overlaps = await page.evaluate("""() => {
            const hit = [];
            const box = document.querySelector('#description'), button = document.querySelector('#hl-chat-open');
            for (let y = 0; y <= document.documentElement.scrollHeight; y += 100) {
                window.scrollTo(0, y);
                const a = box.getBoundingClientRect(), b = button.getBoundingClientRect();
                if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) hit.push(y);
            }
            return hit;
        }""")
        assert overlaps == []
        assert errors == []
        await page.close()
    finally:
        await server.close()
