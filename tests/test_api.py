"""The REST API through aiohttp's test client, on SQLite and PostgreSQL."""
import re

import pytest
import sqlalchemy as sa

from cases.models import Case, CaseEvent
from conftest import auth

COMPLAINT = {"kind": "complaint", "description": "光明路菜市场旁边的饭店油烟太大，每天中午熏得没法开窗",
             "location": "光明路菜市场", "contact_phone": "13912345678", "category": "hjbh.dqwr"}


async def rows(services, model):
    async with services.db.read() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


async def create(client, body=None, **headers):
    resp = await client.post("/api/cases", json=body or COMPLAINT, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_submit_then_look_up(client):
    created = await create(client)
    assert created["number"].isdigit() and len(created["number"]) == 13
    assert created["password"].isdigit() and created["status"] == "registered" and created["deadline"]
    resp = await client.post("/api/cases/lookup", json={"number": created["number"], "password": created["password"]})
    assert resp.status == 200
    view = await resp.json()
    assert view["status_label"] == "已登记" and view["kind_label"] == "投诉"
    assert view["category"]["name"].endswith("大气污染") and view["history"][0]["label"] == "受理登记"
    assert "contact_phone" not in view and "description" not in view  # citizen view: no personal data echoed
    en = await (await client.post("/api/cases/lookup?lang=en", json={"number": created["number"],
                                                                    "password": created["password"]})).json()
    assert en["kind_label"] == "Complaint"


async def test_wrong_password_and_unknown_number_look_the_same(client):
    created = await create(client)
    wrong = await client.post("/api/cases/lookup", json={"number": created["number"], "password": "x"})
    unknown = await client.post("/api/cases/lookup", json={"number": "2611280000003", "password": created["password"]})
    assert wrong.status == unknown.status == 404
    assert await wrong.json() == await unknown.json()


async def test_invalid_input_names_fields_and_stores_nothing(client, services):
    resp = await client.post("/api/cases", json={"kind": "complaint", "description": "",
                                                 "contact_phone": "abc", "contact_email": "no-at"})
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid"
    assert set(body["errors"]) == {"description", "contact_phone", "contact_email"}
    assert "诉求内容" in body["errors"]["description"]
    assert await rows(services, Case) == 0 and await rows(services, CaseEvent) == 0


@pytest.mark.parametrize("payload,ctype", [(b"{not json", "application/json"), (b"\xff\xfe\x00", "application/json"),
                                           (b"[1, 2]", "application/json"), (b"", "application/json")])
async def test_malformed_bodies_get_400(client, services, payload, ctype):
    resp = await client.post("/api/cases", data=payload, headers={"Content-Type": ctype})
    assert resp.status == 400
    assert "body" in (await resp.json())["errors"]
    assert await rows(services, Case) == 0


async def test_oversize_body_gets_413_and_nothing_is_stored(client, services):
    big = dict(COMPLAINT, description="很" * (300 * 1024))
    resp = await client.post("/api/cases", json=big)
    assert resp.status == 413
    assert (await resp.json())["error"] == "too_large"
    assert await rows(services, Case) == 0


async def test_hostile_fields_are_stored_as_text(client, services):
    created = await create(client, dict(COMPLAINT, title="<script>alert(1)</script>", location="'; DROP TABLE cases; --"))
    case = await services.store.get(created["number"])
    assert case.title == "<script>alert(1)</script>" and case.location.startswith("';")
    assert await rows(services, Case) == 1


async def test_lookup_is_rate_limited(services_factory, client_factory, sqlite_url):
    services = await services_factory(sqlite_url, lookup_per_client=3, lookup_per_case=100)
    client = await client_factory(services)
    created = await create(client)
    codes = []
    for _ in range(5):
        resp = await client.post("/api/cases/lookup", json={"number": created["number"], "password": "999999"})
        codes.append(resp.status)
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
    assert int(resp.headers["Retry-After"]) >= 1


async def test_lookup_is_rate_limited_per_case_number(services_factory, client_factory, sqlite_url):
    services = await services_factory(sqlite_url, lookup_per_client=100, lookup_per_case=2)
    client = await client_factory(services)
    created = await create(client)
    statuses = [(await client.post("/api/cases/lookup", json={"number": created["number"], "password": p})).status
                for p in ("1", "2", created["password"])]
    assert statuses == [404, 404, 429]  # even the right password waits once the number is under attack


async def test_staff_endpoints_need_a_token_and_enforce_roles(client, staff_tokens):
    created = await create(client)
    assert (await client.get("/api/cases")).status == 401
    assert (await client.get("/api/cases", headers=auth("not-a-token"))).status == 401
    listing = await (await client.get("/api/cases?kind=complaint", headers=auth(staff_tokens["agent"]))).json()
    assert listing["total"] == 1 and listing["items"][0]["contact_phone"] == "13912345678"
    number = created["number"]
    # a department handler sees nothing until the case is dispatched to it
    assert (await (await client.get("/api/cases", headers=auth(staff_tokens["department"]))).json())["total"] == 0
    assert (await client.get(f"/api/cases/{number}", headers=auth(staff_tokens["department"]))).status == 403
    assert (await client.post(f"/api/cases/{number}/actions/dispatch", json={"department": "zjj"},
                              headers=auth(staff_tokens["department"]))).status == 403
    ok = await client.post(f"/api/cases/{number}/actions/dispatch", json={"department": "zjj", "comment": "请办理"},
                           headers=auth(staff_tokens["agent"]))
    assert ok.status == 200 and (await ok.json())["status"] == "dispatched"
    dept = auth(staff_tokens["department"])
    whole = await (await client.get(f"/api/cases/{number}", headers=dept)).json()
    assert "accept" in whole["actions"] and [e["action"] for e in whole["events"]] == ["register", "dispatch"]
    assert (await client.get(f"/api/cases/{number}", headers=auth(staff_tokens["other_department"]))).status == 403
    for action, body in [("accept", {}), ("reply", {"reply": "已处理，饭店已安装油烟净化器。"})]:
        resp = await client.post(f"/api/cases/{number}/actions/{action}", json=body, headers=dept)
        assert resp.status == 200, await resp.text()
    conflict = await client.post(f"/api/cases/{number}/actions/accept", json={}, headers=dept)
    assert conflict.status == 409 and "replied" in (await conflict.json())["detail"]
    missing = await client.post(f"/api/cases/{number}/actions/follow_up", json={}, headers=auth(staff_tokens["agent"]))
    assert missing.status == 400 and "satisfaction" in (await missing.json())["errors"]
    view = await (await client.post("/api/cases/lookup", json={"number": number, "password": created["password"]})).json()
    assert view["status"] == "replied" and view["reply"].startswith("已处理")


async def test_staff_can_register_phone_cases_and_sign_out(client, staff_tokens):
    headers = auth(staff_tokens["agent"])
    created = await create(client, dict(COMPLAINT, channel="phone_agent", urgency="urgent"), **headers)
    whole = await (await client.get(f"/api/cases/{created['number']}", headers=headers)).json()
    assert whole["channel"] == "phone_agent" and whole["urgency"] == "urgent"
    assert (await client.delete("/api/auth/token", headers=headers)).status == 204
    assert (await client.get("/api/me", headers=headers)).status == 401
    bad = await client.post("/api/auth/token", json={"username": "agent1", "password": "wrong"})
    assert bad.status == 401


async def test_openapi_health_metrics_and_reference(client):
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.") and "/api/cases/lookup" in doc["paths"]
    # every route under /api/ is in the document, with each of its methods
    for route in client.server.app.router.routes():
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.resource.canonical)
        if path.startswith("/api/") and route.method != "HEAD":
            assert route.method.lower() in doc["paths"].get(path, {}), (route.method, path)
    assert (await (await client.get("/healthz")).json())["database"] is True
    await create(client)
    text = await (await client.get("/metrics")).text()
    assert 'hotline_cases_created_total{channel="web",kind="complaint"} 1.0' in text
    cats = await (await client.get("/api/reference/categories")).json()
    assert [c["name"] for c in cats][:2] == ["城乡建设", "环境保护"] and cats[0]["children"]
    depts = await (await client.get("/api/reference/departments?lang=en")).json()
    assert any(d["code"] == "zjj" and "Housing" in d["name"] for d in depts)
