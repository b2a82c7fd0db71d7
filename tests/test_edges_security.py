"""The citizen portal and the agents' desk tried with OWASP-style hostile input (script injection,
SQL injection, template injection, header splitting, path traversal, control characters, oversize
text): a clear answer, never a server error, and what is stored is shown as text, never as markup.
Sessions and API tokens end at their time-to-live, and at sign-out."""
from __future__ import annotations

import asyncio
import re

import pytest

from sqlalchemy import func, select

from cases.models import Case
from desk_support import csrf_of, login, make_users
from tests.conftest import auth

HOSTILE = [
    "<script>alert('x')</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(document.cookie)",
    "' OR '1'='1' --",
    "1; DROP TABLE cases; --",
    "{{7*7}}{% raw %}${7*7}",
    "../../../../etc/passwd",
    "line\r\nSet-Cookie: hacked=1",
    "nul\x00byte",
    "\u202egnp.exe",
    "%00%0d%0a<svg/onload=alert(1)>",
]
RAW_MARKUP = re.compile(r"<script>alert|<img src=x|<svg/onload", re.I)


def visible(text: str) -> str:
    """Text as a form keeps it: line ends normalized, NUL bytes gone."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("payload", HOSTILE)
async def test_portal_submission_with_hostile_text(client, services, payload):
    form = await (await client.get("/submit")).text()
    data = {"csrf_token": token_of(form), "kind": "complaint", "title": payload[:50],
            "description": f"小区门口的路灯坏了很久，一直没人修。{payload}", "location": payload[:100],
            "contact_name": payload[:30], "contact_phone": "13812345678", "wants_reply": "1"}
    resp = await client.post("/submit", data=data)
    page = await resp.text()
    assert resp.status in (200, 400), page[:500]
    assert not RAW_MARKUP.search(page), "hostile markup reached the page unescaped"
    assert "hacked=1" not in resp.headers.get("Set-Cookie", "")
    if resp.status == 200:  # stored: shown back as text in the desk too
        number = re.search(r"\d{13}", page).group(0)
        case = await services.store.get(number)
        assert visible(payload) in visible(case.description)  # kept as the citizen wrote it
        await make_users(services)
        assert (await login(client, "agent1")).status == 302
        desk = await client.get(f"/desk/cases/{number}")
        text = await desk.text()
        assert desk.status == 200 and not RAW_MARKUP.search(text)
        assert "一直没人修。49" not in text  # a template expression stays text


@pytest.mark.parametrize("payload", HOSTILE + ["x" * 100_000])
async def test_portal_lookup_and_desk_search_with_hostile_text(client, services, payload):
    form = await (await client.get("/lookup")).text()
    resp = await client.post("/lookup", data={"csrf_token": token_of(form), "number": payload, "password": payload})
    page = await resp.text()
    assert resp.status in (200, 400, 404, 413, 429), page[:300]
    assert not RAW_MARKUP.search(page)
    await make_users(services)
    assert (await login(client, "agent1")).status == 302
    search = await client.get("/desk/cases", params={"q": payload[:2000], "phone": payload[:200]})
    assert search.status in (200, 400), (await search.text())[:300]
    assert not RAW_MARKUP.search(await search.text())
    async with services.db.read() as s:  # nothing dropped or changed by an injection
        assert (await s.execute(select(func.count()).select_from(Case))).scalar() == 0


@pytest.mark.parametrize("username", ["admin' --", "' OR '1'='1", "admin\x00", "<script>alert(1)</script>"])
async def test_desk_login_with_injection_signs_no_one_in(client, services, username):
    await make_users(services)
    resp = await login(client, username, "' OR '1'='1")
    assert resp.status in (200, 400, 401)
    assert not RAW_MARKUP.search(await resp.text())
    assert (await client.get("/desk/cases", allow_redirects=False)).status == 302  # still signed out


async def test_api_token_and_desk_session_expire(services_factory, client_factory, db_url):
    services = await services_factory(db_url, api_token_ttl_s=2)
    client = await client_factory(services)
    await make_users(services)
    resp = await client.post("/api/auth/token", json={"username": "agent1", "password": "secret-pass-1"})
    token = (await resp.json())["token"]
    assert (await client.get("/api/me", headers=auth(token))).status == 200
    assert (await login(client, "agent1")).status == 302
    assert (await client.get("/desk/cases", allow_redirects=False)).status == 200
    await asyncio.sleep(2.5)
    assert (await client.get("/api/me", headers=auth(token))).status == 401
    gone = await client.get("/desk/cases", allow_redirects=False)
    assert gone.status == 302 and gone.headers["Location"].startswith("/desk/login")


async def test_signing_out_ends_the_token_and_the_session_at_once(client, services):
    await make_users(services)
    token = (await (await client.post("/api/auth/token", json={"username": "agent1",
                                                               "password": "secret-pass-1"})).json())["token"]
    assert (await client.delete("/api/auth/token", headers=auth(token))).status == 204
    assert (await client.get("/api/me", headers=auth(token))).status == 401
    assert (await login(client, "agent1")).status == 302
    assert (await client.get("/desk/cases", allow_redirects=False)).status == 200
    out = await client.post("/desk/logout", data={"csrf_token": await csrf_of(client, "/desk")},
                            allow_redirects=False)
    assert out.status in (302, 303)
    assert (await client.get("/desk/cases", allow_redirects=False)).status == 302
