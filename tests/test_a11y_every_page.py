"""Every page, not a list of them: a crawler in headless Chromium signs in as an agent, a department
handler, a supervisor and an administrator and follows every desk link it finds (one page of each
shape: /desk/cases/<number> once, not once per case), plus the pages that only a form or a
hand-off leads to (each report, a case in each state, a live chat, the portal's receipt, look-up
and supplement answers, the error page, the chat widget open on a phone). Each page passes
axe-core's WCAG 2.x level A rules (tests/a11y_support.py), and the same pages in English show no
untranslated message key and no Chinese in their own words (headings, labels, buttons, table
heads, hints: what the catalogs translate; the data the test stores is in English)."""
from __future__ import annotations

import base64
import datetime as dt
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp.test_utils import TestServer

from a11y_support import violations
from cases import approvals
from cases.conversations import ConversationLog
from cases.handoffs import HandoffDesk
from cases.intake import validate_case
from cases.reports import REPORTS
from cases.store import Actor
from cases.workflow import Channel
from channels.email.web import MAIL_CHANNEL
from desk_support import make_users
from hotline.i18n import catalog
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)
from test_desk_browser import sign_in

pytestmark = [pytest.mark.browser]

# links that are no page: downloads, files, sockets, the sign-out
NOT_A_PAGE = re.compile(r"\.(pdf|xlsx|csv|png|svg|ico|css|js)$|/attachments/|/recordings/|/logout$|/ws$|/static/|/api/")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
PER_SHAPE = 2          # pages of one shape visited (a list and its filtered view, say)
CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")
SECTIONS = "|".join(sorted({k.split(".")[0] for k in catalog("zh")}))  # desk, portal, reports…
KEY = re.compile(rf"\b(?:{SECTIONS})\.[a-z_]+(?:\.[a-z_0-9]+)*\b")  # a message key no catalog has shows itself
# the page's own words: what a catalog translates (data cells, options and free text are left out)
OWN_WORDS_JS = r"""() => {
  const out = [];
  const chrome = 'h1, h2, h3, h4, th, label, legend, caption, summary, button, .hint, nav a, .desk-top a, .tabs a, dt';
  for (const el of document.querySelectorAll(chrome)) {
    if (el.closest('[lang]:not(html)') || el.closest('[data-content]')) continue;  // marked: not the page's words
    if (el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;  // not shown
    let text = '';
    for (const node of el.childNodes) if (node.nodeType === Node.TEXT_NODE) text += node.textContent;
    text = text.trim();
    if (text) out.push([el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''), text]);
  }
  const title = document.title;
  if (title) out.push(['title', title]);
  return out;
}"""


def shape(url: str) -> str:
    """What makes two links the same kind of page: the path with numbers as N, the query's names."""
    parts = urlsplit(url)
    keys = sorted({k for k, _ in parse_qsl(parts.query) if k != "lang"})
    return re.sub(r"\d+", "N", parts.path) + ("?" + "&".join(keys) if keys else "")


async def _case(services, number_hint: str, description: str):
    inp = validate_case({"kind": "complaint", "description": description, "contact_phone": "13812345678",
                         "category": "cxjs.wygl", "location": "East gate, Xingfu estate", "title": number_hint},
                        channel=Channel.PHONE_AGENT, known_categories=await services.store.category_codes())
    case, _ = await services.store.create_case(inp, Actor("system"))
    return case


async def _world(services) -> dict:
    """Cases in every state a page shows differently, a request waiting, a live chat (data in English)."""
    users = await make_users(services)
    agent, dept, boss = (Actor.for_user(users[n]) for n in ("agent1", "dept1", "super1"))
    made = {}
    for name in ("registered", "dispatched", "asked", "replied", "followed", "closed", "returned"):
        made[name] = await _case(services, f"Case {name}", f"Barbecue stall noise every night ({name})")
    for name in ("dispatched", "asked", "replied", "followed", "closed", "returned"):
        await services.store.apply(made[name].number, "dispatch", agent, department_code="zjj")
    for name in ("asked", "replied", "followed", "closed", "returned"):
        await services.store.apply(made[name].number, "accept", dept)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    await services.store.apply(made["asked"].number, "request_extend", dept, comment="Needs another bureau",
                               deadline=later)
    await services.store.apply(made["returned"].number, "request_return", dept, comment="Not ours")
    asked_return = next(p for p in await approvals.pending(services.db) if p.number == made["returned"].number)
    await approvals.decide(services.store, asked_return.request.id, True, boss)  # back at the hotline
    for name in ("replied", "followed", "closed"):
        await services.store.apply(made[name].number, "reply", dept, reply="Fixed on site")
    for name in ("followed", "closed"):
        await services.store.apply(made[name].number, "follow_up", agent, satisfaction=1)
    await services.store.apply(made["closed"].number, "close", agent)
    log = ConversationLog(services.db)
    await log.request_handoff("webchat-a11y-waiting-0001", "webchat", "asked",
                              {"case_description": "Street light out"}, [])
    taken = await log.request_handoff("webchat-a11y-taken-00001", "webchat", "asked",
                                      {"case_description": "Noise at night"},
                                      [{"from": "citizen", "text": "Hello?", "at": dt.datetime.now(
                                          dt.timezone.utc).isoformat()}])
    await HandoffDesk(services.db).take(taken.id, users["agent1"])
    made["chat"] = "webchat-a11y-taken-00001"
    return made


def _seeds(role: str, made: dict) -> list[str]:
    """Pages no link leads to (a form or a live hand-off does), per role."""
    cases = [f"/desk/cases/{c.number}" for k, c in made.items() if k != "chat"]
    seeds = {
        "agent1": [*cases, f"/desk/live/chat/{made['chat']}", "/desk/cases?status=registered",
                   f"/desk/cases/{made['registered'].number}/print/sheet"],
        "dept1": ["/desk/inbox?view=overdue", f"/desk/cases/{made['asked'].number}"],
        "super1": [*(f"/desk/reports?report={k}" for k in REPORTS), "/desk/reports?report=volume&compare=yoy",
                   "/desk/reports?report=volume&by=channel&granularity=week&first=2026-09-01&last=2026-11-30",
                   "/desk/reports?first=2026-11-30&last=2026-11-01", "/desk/reports/print?report=quality"],
        "admin1": ["/desk/admin/polls/new"],
    }
    return seeds[role]


async def _held_mail(services):
    """The mail channel (not reading any mailbox) with one mail the spam filter flagged, held for
    agents: the desk's menu then shows 待处理邮件 (/desk/mail), and the list links the mail's page."""
    from channels.email import MailChannel

    services.settings.mail_from = "12345@hotline.example"
    channel = MailChannel(services)
    raw = ("From: Someone <someone@example.com>\r\nTo: 12345@hotline.example\r\nSubject: Cheap pills\r\n"
           "Message-ID: <a11y-held@example.com>\r\nX-Spam-Flag: YES\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nBuy now.\r\n").encode()
    assert (await channel.ingest.ingest(raw, source="imap")).state == "held"
    return channel


async def _crawl(page, base: str, start: list[str], visit) -> list[str]:
    """Visit every page of `start`, then every same-site desk link found, PER_SHAPE pages per shape."""
    queue, seen, shapes, visited = list(start), set(), {}, []
    while queue:
        url = queue.pop(0)
        if url in seen or NOT_A_PAGE.search(urlsplit(url).path):
            continue
        seen.add(url)
        key = shape(url)
        if shapes.get(key, 0) >= PER_SHAPE and url not in start:
            continue
        shapes[key] = shapes.get(key, 0) + 1
        response = await page.goto(base + url)
        assert response.status < 500, f"{url}: {response.status}"
        visited.append(url)
        await visit(page, url)
        for href in await page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))"):
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/desk") or "lang" in dict(parse_qsl(parts.query)):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return visited


def _english_problems(url: str, words: list) -> list[str]:
    found = []
    for where, text in words:
        if CJK.search(text):
            found.append(f"{url} {where}: Chinese in English: {text[:80]!r}")
        elif KEY.search(text):  # a message key shows itself where no catalog has it
            found.append(f"{url} {where}: untranslated key: {text[:80]!r}")
    return found


async def test_every_page_passes_axe_and_speaks_english(services_factory, sqlite_url, browser):  # noqa: F811
    services = await services_factory(sqlite_url)
    made = await _world(services)
    app = create_app(services)
    app[MAIL_CHANNEL] = await _held_mail(services)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    contexts, errors = [], []
    english: list[str] = []
    try:
        base = str(server.make_url("")).rstrip("/")

        async def context(**kwargs):
            ctx = await browser.new_context(bypass_csp=True, **kwargs)  # axe is injected: CSP bypassed
            contexts.append(ctx)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return ctx, page

        problems: list[str] = []

        async def assert_accessible(page, what: str) -> None:  # every page's findings, reported together
            for v in await violations(page):
                problems.append(f"{what}: {v['id']} ({v['impact']}): {v['help']} — "
                                + "; ".join(n["html"][:120] for n in v["nodes"][:3]))

        async def axe(page, url):
            await assert_accessible(page, url)
            english.extend(f"{url}: untranslated key: {text!r}" for _, text in await page.evaluate(OWN_WORDS_JS)
                           if KEY.search(text))

        pages_seen = {}
        for role in ("agent1", "dept1", "super1", "admin1"):
            ctx, page = await context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            await sign_in(page, base, role)
            landing = urlsplit(page.url).path
            await assert_accessible(page, f"{role} landing {landing}")
            visited = await _crawl(page, base, [landing, *_seeds(role, made)], axe)
            pages_seen[role] = visited
            if role == "agent1":  # forms sent with nothing filled in come back naming their errors
                for url, button in (("/desk/intake", "#intake-submit"),
                                    (f"/desk/cases/{made['registered'].number}", "#do-dispatch")):
                    await page.goto(base + url)
                    await page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true);"
                                        "document.querySelectorAll('input[name=department]')"
                                        ".forEach(i => i.checked = false)")
                    async with page.expect_navigation():
                        await page.click(button)
                    await assert_accessible(page, f"{url} with errors")
            # the same pages in English (the check reads the page's words: in Chinese it finds them)
            assert _english_problems(landing, await page.evaluate(OWN_WORDS_JS)), "no words read"
            await page.goto(base + "/desk/cases?lang=en")  # the choice is kept in a cookie
            for url in visited:
                await page.goto(base + url)
                english += _english_problems(f"[{role}] {url}", await page.evaluate(OWN_WORDS_JS))
            await ctx.close()
            contexts.remove(ctx)
        assert len(pages_seen["admin1"]) >= 10 and len(pages_seen["agent1"]) >= 10, pages_seen
        assert "/desk/mail" in pages_seen["agent1"] and any(re.fullmatch(r"/desk/mail/\d+", u)
                                                              for u in pages_seen["agent1"]), pages_seen

        # signed out: the sign-in page, and an unknown page
        for lang in ("zh-CN", "en-US"):
            ctx, page = await context(locale=lang, viewport={"width": 1280, "height": 900})
            for url in ("/desk/login", "/desk/cases/9999999999999", "/no-such-page"):
                await page.goto(base + url)
                await assert_accessible(page, f"{url} ({lang})")
                if lang == "en-US":
                    english += _english_problems(url, await page.evaluate(OWN_WORDS_JS))
            await page.goto(base + "/desk/login")  # a failed sign-in names its error
            await page.fill("#username", "agent1")
            await page.fill("#password", "wrong-password")
            async with page.expect_navigation():
                await page.click("#login")
            await assert_accessible(page, f"/desk/login failed ({lang})")

        # the portal, on a phone, with the chat widget open: every page a link leads to, then the
        # answers of its forms (receipt, look-up, supplement, a form with errors)
        for lang in ("zh-CN", "en-US"):
            ctx, page = await context(locale=lang, viewport={"width": 375, "height": 667})
            portal = []
            await page.goto(base + "/")
            for href in await page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))"):
                parts = urlsplit(href)
                if not parts.netloc and parts.path.startswith("/") and not parts.path.startswith("/desk") \
                        and not NOT_A_PAGE.search(parts.path) and parts.path not in portal:
                    portal.append(parts.path)
            assert {"/submit", "/lookup", "/help"} <= set(portal), portal
            for url in ["/", *portal, "/supplement"]:
                await page.goto(base + url)
                await assert_accessible(page, f"portal {url} ({lang})")
            await page.goto(base + "/submit")
            await page.click("#submit-button")  # the browser's own checks: nothing is sent
            await page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")
            async with page.expect_navigation():
                await page.click("#submit-button")
            await assert_accessible(page, f"portal /submit with errors ({lang})")
            assert await page.is_visible("#contact_phone-error")  # required on the server too
            # one citizen and matter per language
            words = ("The street light at the east gate has been out for a week." if lang == "zh-CN" else
                     "Rubbish bins behind the library overflow every weekend.")
            phone = "13700000001" if lang == "zh-CN" else "13912345670"  # not the desk cases' citizen
            await page.select_option("#kind", "complaint")
            await page.fill("#description", words)
            await page.fill("#contact_phone", phone)
            await page.set_input_files("#attachments", files=[{"name": "light.png", "mimeType": "image/png",
                                                               "buffer": PNG}])
            async with page.expect_navigation():
                await page.click("#submit-button")
            assert "light.png" in await page.inner_text("#case-files")
            number = (await page.inner_text("#case-number")).strip()
            password = (await page.inner_text("#case-password")).strip()
            await assert_accessible(page, f"portal receipt ({lang})")
            # the same again (the phone typed proves no one's identity): filed apart, the files kept,
            # nothing said of the open request (an agent merges them)
            await page.goto(base + "/submit")
            await page.select_option("#kind", "complaint")
            await page.fill("#description", words)
            await page.fill("#contact_phone", phone)
            await page.set_input_files("#attachments", files=[{"name": "again.png", "mimeType": "image/png",
                                                               "buffer": PNG}])
            async with page.expect_navigation():
                await page.click("#submit-button")
            assert "again.png" in await page.inner_text("#case-files")
            assert number not in await page.inner_text("main")
            await page.goto(base + "/lookup")
            await page.fill("#number", number)
            await page.fill("#password", password)
            async with page.expect_navigation():
                await page.click("#lookup-button")
            await assert_accessible(page, f"portal case ({lang})")
            await page.goto(base + "/supplement")
            await page.fill("#number", number)
            await page.fill("#password", password)
            await page.fill("#text", "It is also flickering at night.")
            async with page.expect_navigation():
                await page.click("#supplement-button")
            await assert_accessible(page, f"portal supplement done ({lang})")
            # the chat widget open (the bot is off here: its notice is in the log)
            await page.click("#hl-chat-open")
            await page.wait_for_selector("#hl-chat[data-ready='1']")
            if await page.is_visible("#hl-chat-mail"):  # only where the gateway sends mail
                await page.click("#hl-chat-mail")
            await assert_accessible(page, f"chat widget open ({lang})")
            if lang == "en-US":
                for url in ["/", *portal, "/supplement"]:
                    await page.goto(base + url)
                    english += _english_problems(url, await page.evaluate(OWN_WORDS_JS))
        assert problems == [], "accessibility (WCAG level A):\n" + "\n".join(problems)
        assert english == [], "\n".join(english)
        assert errors == []
    finally:
        for ctx in contexts:
            await ctx.close()
        await server.close()
