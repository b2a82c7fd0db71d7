"""Helpers for the desk tests: sign in through the real login form and post with its CSRF token."""
from __future__ import annotations

import re

from cases.intake import validate_case
from cases.store import Actor
from cases.workflow import Channel

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
USERS = {  # username: (role, department, agent number)
    "agent1": ("agent", None, "1024"), "agent2": ("agent", None, "1025"), "super1": ("supervisor", None, "2001"),
    "admin1": ("admin", None, None), "dept1": ("department", "zjj", None), "dept2": ("department", "sthjj", None),
}
PASSWORD = "secret-pass-1"


async def make_users(services) -> dict:
    made = {}
    for username, (role, dept, agent_no) in USERS.items():
        made[username] = await services.accounts.create_user(username, PASSWORD, role, department_code=dept,
                                                             agent_no=agent_no, display_name=username)
    return made


async def csrf_of(client, path: str = "/desk/login") -> str:
    resp = await client.get(path)
    html = await resp.text()
    found = CSRF.search(html)
    assert found, f"no CSRF token on {path}: {resp.status} {html[:300]}"
    return found.group(1)


async def login(client, username: str, password: str = PASSWORD):
    token = await csrf_of(client)
    resp = await client.post("/desk/login", data={"username": username, "password": password,
                                                  "csrf_token": token, "next": "/desk"}, allow_redirects=False)
    return resp


async def post(client, path: str, data: dict | None = None, *, page: str | None = None, **kwargs):
    """POST a desk form with the CSRF token taken from `page` (default: the path itself)."""
    token = await csrf_of(client, page or "/desk/cases")
    return await client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


async def new_case(services, *, kind="complaint", phone="13812345678", category="cxjs.wygl",
                   description="小区门口烧烤摊半夜营业，噪音很大"):
    inp = validate_case({"kind": kind, "description": description, "contact_phone": phone, "category": category,
                         "location": "幸福小区东门"}, channel=Channel.PHONE_AGENT,
                        known_categories=await services.store.category_codes())
    case, _ = await services.store.create_case(inp, Actor("system"))
    return case
