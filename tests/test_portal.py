"""The citizen portal (server-rendered pages with CSRF) through aiohttp's test client, on SQLite
and PostgreSQL."""
import html
import re

import pytest
import sqlalchemy as sa

from cases.models import Case, CaseEvent
from cases.store import Actor
from cases.workflow import Role

HOSTILE = "<script>alert(1)</script>"
COMPLAINT = {"kind": "complaint", "category": "hjbh.dqwr", "title": "饭店油烟扰民",
             "description": "光明路菜市场旁边的饭店油烟太大，每天中午熏得没法开窗",
             "location": "光明路菜市场", "happened": "每天中午", "contact_name": "李女士",
             "contact_phone": "13912345678", "contact_email": "", "wants_reply": "1"}


async def rows(services, model) -> int:
    async with services.db.read() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


def token_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, f"no element #{element_id}"
    return html.unescape(match.group(1)).strip()


async def get_page(client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    body = await resp.text()
    assert resp.status == status, body
    assert resp.content_type == "text/html"
    return body


async def post_form(client, path: str, data: dict, *, token: str | None = None, form_page: str | None = None):
    """POST a form the way a browser does: the token from the page, the cookie from the jar."""
    if token is None:
        token = token_of(await get_page(client, form_page or path))
    resp = await client.post(path, data={**data, "csrf_token": token})
    return resp, await resp.text()


async def submit(client, **overrides) -> tuple[str, str, str]:
    resp, page = await post_form(client, "/submit", {**COMPLAINT, **overrides})
    assert resp.status == 200, page
    return text_of(page, "case-number"), text_of(page, "case-password"), page


# ---- pages and locales ------------------------------------------------------------------------
@pytest.mark.parametrize("path,zh,en", [
    ("/", "有事找政府，就打12345", "Submit a request"),
    ("/help", "12345热线受理哪些事情？", "What does the 12345 hotline handle?"),
    ("/submit", "提交诉求", "Submit"),
    ("/lookup", "请输入提交诉求时得到的受理编号和查询密码。", "Enter the case number and password you received."),
])
async def test_pages_render_in_chinese_by_default_and_english_on_request(client, path, zh, en):
    page = await get_page(client, path)
    assert '<html lang="zh-CN">' in page and zh in page and "12345政务服务便民热线" in page
    english = await get_page(client, path + "?lang=en")
    assert '<html lang="en">' in english and en in english and zh not in english
    # the choice sticks: the next request without ?lang= is English too, until changed back
    assert '<html lang="en">' in await get_page(client, path)
    assert zh in await get_page(client, path + "?lang=zh")
    assert '<html lang="zh-CN">' in await get_page(client, path)


async def test_forms_carry_a_csrf_token_and_set_its_cookie(client):
    resp = await client.get("/submit")
    page = await resp.text()
    assert resp.cookies["hotline_csrf"].value == token_of(page)
    assert resp.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    # the same visitor keeps the same token across forms
    assert token_of(await get_page(client, "/lookup")) == token_of(page)


# ---- CSRF -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/submit", "/lookup"])
async def test_posts_without_or_with_a_wrong_csrf_token_get_400_and_store_nothing(client, services, path):
    token = token_of(await get_page(client, "/submit"))
    data = dict(COMPLAINT, number="2611280000003", password="123456")
    no_token = await client.post(path, data=data)
    assert no_token.status == 400 and "请求无效" in await no_token.text()
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    wrong = await client.post(path, data={**data, "csrf_token": forged})
    assert wrong.status == 400
    # a valid token from the form but no cookie to match it (another site posting on the visitor's behalf)
    client.session.cookie_jar.clear()
    no_cookie = await client.post(path, data={**data, "csrf_token": token})
    assert no_cookie.status == 400
    assert await rows(services, Case) == 0 and await rows(services, CaseEvent) == 0


# ---- submitting -------------------------------------------------------------------------------
async def test_a_valid_submission_shows_number_and_password_once_on_a_no_store_page(client, services):
    resp, page = await post_form(client, "/submit", COMPLAINT)
    assert resp.status == 200, page
    assert resp.headers["Cache-Control"] == "no-store"
    number, password = text_of(page, "case-number"), text_of(page, "case-password")
    assert re.fullmatch(r"\d{13}", number) and re.fullmatch(r"\d{6}", password)
    assert "提交成功" in page and "查询密码只显示这一次" in page and "已登记" in page
    case = await services.store.get(number)
    assert case.channel == "web" and case.title == "饭店油烟扰民" and case.contact_phone == "13912345678"
    assert case.category.code == "hjbh.dqwr" and case.locale == "zh"
    assert password not in case.password_hash
    assert await rows(services, Case) == 1 and await rows(services, CaseEvent) == 1
    # the password is never shown again: not on the lookup form, not on the case page
    assert password not in await get_page(client, "/lookup")
    resp, case_page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert resp.status == 200 and number in case_page and password not in case_page


async def test_validation_errors_rerender_the_form_with_a_message_per_field(client, services):
    typed = dict(COMPLAINT, kind="", description="太吵", contact_phone="12ab", contact_email="不是邮箱",
                 location="幸福小区东门")
    resp, page = await post_form(client, "/submit", typed)
    assert resp.status == 400
    assert "提交的内容有需要修改的地方" in page
    assert text_of(page, "kind-error") == "请填写诉求类型。"
    assert text_of(page, "description-error") == "诉求内容至少需要5个字。"
    assert text_of(page, "contact_phone-error").startswith("请填写正确的联系电话")
    assert text_of(page, "contact_email-error") == "请填写正确的电子邮箱地址。"
    assert 'id="location-error"' not in page and 'id="title-error"' not in page
    # what was typed is kept, so nothing has to be typed twice
    assert 'value="幸福小区东门"' in page and 'value="12ab"' in page and 'value="不是邮箱"' in page
    assert ">太吵</textarea>" in page and 'value="饭店油烟扰民"' in page
    assert re.search(r'<option value="hjbh.dqwr"\s+selected', page)
    assert re.search(r'name="wants_reply" value="1"\s+checked', page)
    assert await rows(services, Case) == 0 and await rows(services, CaseEvent) == 0
    # the re-rendered form carries a working token: fixing the fields submits the case
    resp, done = await post_form(client, "/submit", COMPLAINT, token=token_of(page))
    assert resp.status == 200 and re.fullmatch(r"\d{13}", text_of(done, "case-number"))


async def test_validation_messages_follow_the_locale(client):
    await get_page(client, "/submit?lang=en")
    resp, page = await post_form(client, "/submit", dict(COMPLAINT, description=""))
    assert resp.status == 400 and text_of(page, "description-error") == "Please fill in What happened."


async def test_hostile_text_is_escaped_on_every_page_that_shows_it(client, services):
    # the form re-rendered with errors shows the typed values
    resp, page = await post_form(client, "/submit", dict(COMPLAINT, title=HOSTILE, location=HOSTILE,
                                                         contact_name=HOSTILE, description=HOSTILE + "xx",
                                                         contact_phone="bad"))
    assert resp.status == 400 and HOSTILE not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    # stored as text, shown escaped on the case page
    number, password, submitted = await submit(client, title=HOSTILE, location=HOSTILE, description=HOSTILE + " 油烟")
    assert HOSTILE not in submitted
    assert (await services.store.get(number)).title == HOSTILE
    resp, case_page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert resp.status == 200 and HOSTILE not in case_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case_page
    # the lookup form echoes the typed number back
    resp, lookup_page = await post_form(client, "/lookup", {"number": HOSTILE, "password": "123456"})
    assert resp.status == 404 and HOSTILE not in lookup_page and "&lt;script&gt;" in lookup_page


async def test_the_phone_marked_required_is_required_and_checked(client, services):
    anonymous = dict(COMPLAINT, contact_phone="", contact_email="li@example.cn", contact_name="", anonymous="1")
    anonymous.pop("wants_reply")  # an unchecked box is not sent at all
    resp, page = await post_form(client, "/submit", anonymous)
    assert resp.status == 400 and text_of(page, "contact_phone-error") == "请填写联系电话。"
    resp, page = await post_form(client, "/submit", dict(anonymous, contact_phone="12345678901234"))
    assert resp.status == 400 and text_of(page, "contact_phone-error").startswith("请填写正确的联系电话")
    assert await rows(services, Case) == 0
    # anonymous, no reply wanted: the phone is still kept (for the hotline only), the name is not
    resp, page = await post_form(client, "/submit", dict(anonymous, contact_phone="0571-87654321"))
    assert resp.status == 200, page
    case = await services.store.get(text_of(page, "case-number"))
    assert case.wants_reply is False and case.anonymous is True and case.contact_phone == "0571-87654321"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def post_files(client, path: str, fields: dict, files: list[tuple[str, bytes, str]], form_page: str):
    """A multipart form with files, as a browser sends it (token from the page)."""
    from aiohttp import FormData

    form = FormData(quote_fields=False)  # as a browser sends a file name: raw UTF-8
    for name, value in {**fields, "csrf_token": token_of(await get_page(client, form_page))}.items():
        form.add_field(name, value)
    for filename, data, content_type in files:
        form.add_field("attachments", data, filename=filename, content_type=content_type)
    resp = await client.post(path, data=form)
    return resp, await resp.text()


async def test_attachments_receipt_own_words_and_adding_information(client, services):
    # a file of a kind not taken (whatever it claims to be) is refused before anything is stored
    resp, page = await post_files(client, "/submit", COMPLAINT, [("photo.png", b"MZ\x90\x00 not a picture", "image/png")],
                                  "/submit")
    assert resp.status == 400 and "photo.png" in text_of(page, "attachments-error")
    assert await rows(services, Case) == 0
    resp, page = await post_files(client, "/submit", COMPLAINT, [("油烟.png", PNG, "image/png")], "/submit")
    assert resp.status == 200, page
    number, password = text_of(page, "case-number"), text_of(page, "case-password")
    # the receipt: number, the citizen's own words, the file, a print button
    assert COMPLAINT["description"] in page and text_of(page, "case-files") == "油烟.png" and 'id="print-receipt"' in page
    case = await services.store.get(number)
    assert [(a.filename, a.content_type) for a in await services.store.attachments(case.id)] == [("油烟.png", "image/png")]
    # 受理查询 shows what the citizen wrote
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert text_of(page, "case-description") == COMPLAINT["description"] and "/supplement?number=" in page

    # adding information needs the password; nothing at all is refused; then words and a file
    fields = {"number": number, "password": "000000" if password != "000000" else "111111", "text": "补充：晚上也有油烟"}
    resp, page = await post_files(client, "/supplement", fields, [], "/supplement")
    assert resp.status == 404 and "受理编号或查询密码不正确" in page
    resp, page = await post_files(client, "/supplement", {"number": number, "password": password, "text": ""}, [],
                                  "/supplement")
    assert resp.status == 400 and text_of(page, "text-error") == "请填写补充说明或选择要上传的附件。"
    resp, page = await post_files(client, "/supplement", dict(fields, password=password),
                                  [("说明.pdf", b"%PDF-1.4 evidence", "application/pdf")], "/supplement")
    assert resp.status == 200 and "补充材料已提交" in page and "补充：晚上也有油烟" in page
    assert len(await services.store.attachments(case.id)) == 2
    events = await services.store.events(case.id, public_only=True)
    assert [(e.action, e.comment) for e in events][-1] == ("supplement", "补充：晚上也有油烟")
    assert (await services.store.get(number)).status == "registered"  # information, not a state change


# ---- looking up -------------------------------------------------------------------------------
async def test_lookup_with_the_right_credentials_shows_status_history_and_reply(client, services):
    number, password, _page = await submit(client)
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert text_of(page, "case-number") == number and text_of(page, "case-status") == "已登记"
    assert "受理登记" in page and "尚未答复" in page and "饭店油烟扰民" in page
    assert "13912345678" not in page and "李女士" not in page  # no personal data echoed
    # the number may be typed with spaces, as it is read out on the phone
    spaced = " ".join([number[:4], number[4:8], number[8:]])
    resp, again = await post_form(client, "/lookup", {"number": spaced, "password": password})
    assert resp.status == 200 and text_of(again, "case-number") == number

    agent = Actor("user:agent1", None, Role.AGENT)
    await services.store.apply(number, "answer", agent, reply="已联系市场监管部门，饭店将在本周内安装油烟净化器。")
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert text_of(page, "case-status") == "当场答复"
    assert text_of(page, "case-reply").startswith("已联系市场监管部门")
    history = re.findall(r"<li><time>[^<]*</time>\s*([^<]*)</li>", page)
    assert [h.split(" → ")[0].strip() for h in history] == ["受理登记", "当场答复"]
    resp, english = await post_form(client, "/lookup?lang=en", {"number": number, "password": password})
    assert text_of(english, "case-status") == "Answered on the spot" and "Registered" in english


async def test_unknown_number_and_wrong_password_give_the_identical_message(client):
    number, password, _page = await submit(client)
    wrong_password = "000000" if password != "000000" else "111111"
    unknown = f"{int(number[:12]) ^ 1:012d}"
    from cases.credentials import luhn_digit
    unknown += luhn_digit(unknown)
    answers = []
    for n, p in [(number, wrong_password), (unknown, password), ("123", password)]:
        resp, page = await post_form(client, "/lookup", {"number": n, "password": p})
        answers.append((resp.status, text_of(page, "lookup-error")))
    assert answers[0] == answers[1] == answers[2] == (404, "受理编号或查询密码不正确，请核对后重试。")
    resp, page = await post_form(client, "/lookup", {"number": number, "password": ""})
    assert resp.status == 400 and text_of(page, "lookup-error") == "请填写受理编号和查询密码。"


async def test_too_many_lookups_get_the_chinese_message_and_429(services_factory, client_factory, db_url):
    services = await services_factory(db_url, lookup_per_client=3, lookup_per_case=3)
    client = await client_factory(services)
    number, password, _page = await submit(client)
    token = token_of(await get_page(client, "/lookup"))
    for _ in range(3):
        resp, _ = await post_form(client, "/lookup", {"number": number, "password": "999999"}, token=token)
        assert resp.status == 404
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password}, token=token)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert text_of(page, "lookup-error") == "查询过于频繁，请稍后再试。"
    assert "办理情况" not in page and 'id="case-status"' not in page
