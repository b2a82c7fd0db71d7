"""Departments' 延期 / 退回 requests and the hotline centre's decisions over the REST API
(channels/desk/requests_api.py): the same rules as the desk's inbox and 审批 pages — a department asks
once signed for, sees only its own; supervisors and admins decide; a refusal needs its reason; errors
named in the request's language; a decided request or a case that moved on is a conflict and
changes nothing. On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cases.models import CaseEvent, CaseRequest
from conftest import auth
from desk_support import new_case
from sqlalchemy import func, select


async def _dispatched(services, client, tokens, **kwargs):
    case = await new_case(services, **kwargs)
    for token, action, body in ((tokens["agent"], "dispatch", {"department": "zjj"}),
                                (tokens["department"], "accept", {})):
        resp = await client.post(f"/api/cases/{case.number}/actions/{action}", json=body, headers=auth(token))
        assert resp.status == 200, await resp.text()
    return case


async def _count(services, model) -> int:
    async with services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar()


async def test_requests_and_decisions_over_the_api(services, client, staff_tokens):
    dept, boss, agent = staff_tokens["department"], staff_tokens["supervisor"], staff_tokens["agent"]
    case = await _dispatched(services, client, staff_tokens)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20)).replace(microsecond=0)

    # the department asks (the case action); the deadline does not move until the centre agrees
    before = (await services.store.get(case.number)).deadline
    resp = await client.post(f"/api/cases/{case.number}/actions/request_extend",
                             json={"deadline": later.isoformat(), "comment": "需协调多部门"}, headers=auth(dept))
    assert resp.status == 200, await resp.text()
    assert (await services.store.get(case.number)).deadline == before

    # who sees what: the department its own, the centre all, agents and other departments nothing
    mine = (await (await client.get("/api/requests", headers=auth(dept))).json())["requests"]
    assert [(r["case"], r["kind"], r["reason"]) for r in mine] == [(case.number, "extend", "需协调多部门")]
    assert mine[0]["kind_label"] == "延期" and mine[0]["requested_by"] == "dept1" and mine[0]["decision"] is None
    request_id = mine[0]["id"]
    assert (await (await client.get("/api/requests", headers=auth(boss))).json())["requests"][0]["id"] == request_id
    assert (await (await client.get("/api/requests", headers=auth(staff_tokens["other_department"]))).json()) \
        == {"requests": []}
    assert (await client.get(f"/api/requests/{request_id}", headers=auth(staff_tokens["other_department"]))).status \
        == 403
    assert (await client.get("/api/requests", headers=auth(agent))).status == 403
    assert (await client.get("/api/requests")).status == 401
    assert (await client.get("/api/requests/999999", headers=auth(boss))).status == 404

    # only the centre decides: not the department that asked, not an agent
    for token in (dept, agent):
        resp = await client.post(f"/api/requests/{request_id}/approve", json={}, headers=auth(token))
        assert resp.status == 403
    # a refusal without its reason is refused, named in the request's language, and changes nothing
    events = await _count(services, CaseEvent)
    resp = await client.post(f"/api/requests/{request_id}/refuse?lang=en", json={}, headers=auth(boss))
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid" and "comment" in body["errors"] and "Please fill in" in body["errors"]["comment"]
    resp = await client.post(f"/api/requests/{request_id}/refuse", json={"comment": 5}, headers=auth(boss))
    assert resp.status == 400 and "comment" in (await resp.json())["errors"]
    assert await _count(services, CaseEvent) == events

    # approved (no body needed): the deadline itself moves, the event the reports count is written
    resp = await client.post(f"/api/requests/{request_id}/approve", headers=auth(boss))
    assert resp.status == 200, await resp.text()
    decided = await resp.json()
    assert decided["decision"] == "approved" and decided["decided_by"] == "super1"
    assert (await services.store.get(case.number)).deadline == later
    assert dt.datetime.fromisoformat(decided["case_deadline"]) == later
    async with services.db.read() as s:
        actions = (await s.execute(select(CaseEvent.action, CaseEvent.channel).where(
            CaseEvent.case_id == case.id).order_by(CaseEvent.id))).all()
    assert actions[-1] == ("extend", "api")
    # decided once: a second decision is a conflict, in the request's language
    resp = await client.post(f"/api/requests/{request_id}/refuse?lang=en", json={"comment": "no"},
                             headers=auth(staff_tokens["admin"]))
    assert resp.status == 409 and (await resp.json())["message"] == "This request has already been decided."
    assert (await services.store.get(case.number)).deadline == later
    # the case's whole history of requests
    history = (await (await client.get(f"/api/requests?case={case.number}", headers=auth(dept))).json())["requests"]
    assert [(r["kind"], r["decision"]) for r in history] == [("extend", "approved")]
    assert (await client.get(f"/api/requests?case={case.number}",
                             headers=auth(staff_tokens["other_department"]))).status == 403
    assert (await client.get("/api/requests?case=2611289999999", headers=auth(boss))).status == 404


async def test_refused_and_stale_requests(services, client, staff_tokens):
    dept, boss = staff_tokens["department"], staff_tokens["supervisor"]
    returned = await _dispatched(services, client, staff_tokens)
    replied = await _dispatched(services, client, staff_tokens, description="路灯不亮已经一周了")
    for case in (returned, replied):
        resp = await client.post(f"/api/cases/{case.number}/actions/request_return",
                                 json={"comment": "不属于本单位职责"}, headers=auth(dept))
        assert resp.status == 200, await resp.text()
    ids = {r["case"]: r["id"] for r in (await (await client.get("/api/requests", headers=auth(boss))).json())["requests"]}

    resp = await client.post(f"/api/requests/{ids[returned.number]}/refuse", json={"comment": "属于贵单位职责，请办理"},
                             headers=auth(boss))
    assert resp.status == 200
    refused = await resp.json()
    assert refused["decision"] == "refused" and refused["decision_comment"] == "属于贵单位职责，请办理"
    assert refused["case_status"] == "accepted"

    # the department replied meanwhile: the return can no longer be approved, and nothing changes
    resp = await client.post(f"/api/cases/{replied.number}/actions/reply", json={"reply": "已修复"}, headers=auth(dept))
    assert resp.status == 200
    resp = await client.post(f"/api/requests/{ids[replied.number]}/approve", json={}, headers=auth(boss))
    assert resp.status == 409 and (await resp.json())["error"] == "conflict"
    async with services.db.read() as s:
        assert (await s.get(CaseRequest, ids[replied.number])).decision is None
    assert (await services.store.get(replied.number)).status == "replied"

    # the OpenAPI document describes the routes
    doc = await (await client.get("/api/openapi.json")).json()
    for path in ("/api/requests", "/api/requests/{id}", "/api/requests/{id}/approve", "/api/requests/{id}/refuse"):
        assert path in doc["paths"]
    assert "CaseRequest" in doc["components"]["schemas"]


async def test_a_deadline_without_a_zone_is_the_hotlines_own_time(services, client, staff_tokens):
    # an integrator in the city writes "2026-12-31T18:00": six in the evening there, not in London
    case = await _dispatched(services, client, staff_tokens)
    local = (dt.datetime.now() + dt.timedelta(days=25)).replace(hour=18, minute=0, second=0, microsecond=0)
    resp = await client.post(f"/api/cases/{case.number}/actions/request_extend",
                             json={"deadline": local.isoformat(), "comment": "等待检测报告"},
                             headers=auth(staff_tokens["department"]))
    assert resp.status == 200, await resp.text()
    asked = (await (await client.get("/api/requests", headers=auth(staff_tokens["supervisor"]))).json())["requests"][0]
    zone = services.settings.timezone
    assert dt.datetime.fromisoformat(asked["deadline"]) == local.replace(tzinfo=ZoneInfo(zone))
    # a date that is no date is refused and asks nothing
    resp = await client.post(f"/api/cases/{case.number}/actions/request_extend",
                             json={"deadline": "下周五", "comment": "x"}, headers=auth(staff_tokens["department"]))
    assert resp.status == 400 and "deadline" in (await resp.json())["errors"]
    assert await _count(services, CaseRequest) == 1
