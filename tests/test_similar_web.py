"""One matter, one case over HTTP: the portal and the REST API never tell a citizen of an open case
by the phone or email typed (anyone can type a neighbour's): the intake is filed and flagged for an
agent, and the citizen adds to their own case with its number and password; staff on the API are
told the similar cases and choose; the desk lists similar cases (a department only its own), shows
the flag, links and merges them (agents and supervisors only) and adds an intake to an open case;
SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from cases.models import Attachment, Case, CaseEvent
from desk_support import login, make_users, new_case, post
from test_portal import PNG, get_page, post_files, post_form, text_of

NOISE = {"kind": "complaint", "category": "hjbh.zswr", "title": "工地夜间施工",
         "description": "幸福路12号的工地每天半夜还在施工，电钻声音太吵了，孩子睡不着",
         "location": "幸福路12号", "happened": "每天晚上", "contact_name": "王先生",
         "contact_phone": "13812345678", "contact_email": "", "wants_reply": "1"}
AGAIN = dict(NOISE, title="", description="还是那个工地，晚上十一点还在打桩，吵得没法睡", location="幸福路十二号附近")


async def count(services, model) -> int:
    async with services.db.read() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


async def events_of(services, number: str) -> list:
    case = await services.store.get(number)
    return await services.store.events(case.id)


# ---- the portal -----------------------------------------------------------------------------------
async def test_portal_whoever_types_a_citizens_phone_and_place_learns_nothing(client, client_factory, services):
    resp, page = await post_form(client, "/submit", NOISE)
    first = text_of(page, "case-number")
    # another browser with the same phone and the same site: a receipt like any other, the files
    # kept, not a word of the first case (its number, state, existence); both flagged for an agent
    stranger = await client_factory(services)
    resp, page = await post_files(stranger, "/submit", AGAIN, [("site.png", PNG, "image/png")], form_page="/submit")
    assert resp.status == 200 and 'id="case-password"' in page and "duplicate" not in page
    second = text_of(page, "case-number")
    assert second != first and first not in page and NOISE["description"] not in page
    assert "site.png" in text_of(page, "case-files")
    assert [a.filename for a in await services.store.attachments((await services.store.get(second)).id)] == ["site.png"]
    assert [e.action for e in await events_of(services, first)] == ["register", "duplicate_reported"]
    [flag] = [e for e in await events_of(services, second) if e.action == "duplicate_suspected"]
    assert flag.data == {"case": first} and not flag.public
    # a hand-made choice of the old form adds nothing to the first case either
    resp, page = await post_form(stranger, "/submit", dict(AGAIN, duplicate=f"add:{first}"))
    assert 'id="case-password"' in page and first not in page
    assert [e.action for e in await events_of(services, first) if e.public] == ["register"]
    assert await count(services, Case) == 3


async def test_portal_the_citizen_adds_to_their_case_with_its_number_and_password(client, services):
    resp, page = await post_form(client, "/submit", NOISE)
    number, password = text_of(page, "case-number"), text_of(page, "case-password")
    form = await get_page(client, "/submit")
    assert 'id="already-filed"' in form and 'href="/supplement"' in form
    english = await get_page(client, "/submit?lang=en")
    assert "Already submitted this matter?" in english and "add information to it" in english
    resp, page = await post_form(client, "/supplement", {"number": number, "password": password,
                                                         "text": AGAIN["description"]})
    assert resp.status == 200 and "还是那个工地" in page
    [event] = [e for e in await events_of(services, number) if e.action == "supplement"]
    assert "还是那个工地" in event.comment and event.public
    assert await count(services, Case) == 1


async def test_portal_another_citizen_or_matter_is_not_flagged(client, services):
    await post_form(client, "/submit", NOISE)
    await post_form(client, "/submit", dict(AGAIN, contact_phone="13900001111"))
    await post_form(client, "/submit", dict(NOISE, description="社区门口的路灯坏了一个多月，晚上很黑",
                                            location="光明小区北门", category="cxjs.szss"))
    assert await count(services, Case) == 3
    async with services.db.read() as s:
        flags = (await s.execute(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.action.in_(["duplicate_suspected", "duplicate_reported"])))).scalar()
    assert flags == 0


# ---- the REST API -----------------------------------------------------------------------------------
async def test_rest_api_a_citizen_learns_nothing_staff_are_told_and_choose(services, client, staff_tokens):
    from conftest import auth

    first = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    again = {"kind": "complaint", "description": "东门烧烤摊又营业到凌晨两点，太吵了", "location": "幸福小区东门",
             "contact_phone": "13812345678"}
    # a citizen: filed as any other, no word of the first; flagged for an agent
    resp = await client.post("/api/cases", json=again)
    body = await resp.json()
    assert resp.status == 201 and set(body) == {"number", "password", "status", "deadline"}
    assert first.number not in await resp.text()
    assert [e.action for e in await events_of(services, first.number)] == ["register", "duplicate_reported"]
    # staff: told, and "refuse" stores nothing
    agent = auth(staff_tokens["agent"])
    resp = await client.post("/api/cases", json={**again, "on_duplicate": "refuse"}, headers=agent)
    body = await resp.json()
    assert resp.status == 409 and body["error"] == "similar_open_case" and body["message"]
    assert first.number in [m["number"] for m in body["similar"] if m["likely_duplicate"]]
    assert await count(services, Case) == 2
    resp = await client.post("/api/cases", json=again, headers=agent)  # the default: filed, and told
    body = await resp.json()
    assert resp.status == 201 and first.number in [m["number"] for m in body["similar"]]
    assert {"citizen", "place"} <= set(body["similar"][0]["reasons"])
    assert await count(services, Case) == 3
    # staff's supplement_to: the intake onto the open case, nothing filed
    resp = await client.post("/api/cases", json={**again, "supplement_to": first.number}, headers=agent)
    assert resp.status == 200 and (await resp.json()) == {"number": first.number, "status": "registered",
                                                          "supplemented": True}
    [event] = [e for e in await events_of(services, first.number) if e.action == "supplement"]
    assert "凌晨两点" in event.comment and event.data == {"intake": "phone_agent", "by": "agent1"}
    assert await count(services, Case) == 3
    for bad in ({"on_duplicate": "maybe"}, {"supplement_to": "2612070000000"}, {"supplement_to": 5}):
        resp = await client.post("/api/cases", json={**again, **bad}, headers=agent)
        assert resp.status == 400 and set((await resp.json())["errors"]) == set(bad), bad
    assert await count(services, Case) == 3


# ---- the desk -----------------------------------------------------------------------------------------
@pytest.fixture
async def desk(services, client_factory):
    await make_users(services)

    async def signed_in(username: str):
        c = await client_factory(services)
        assert (await login(c, username)).status == 302
        return c
    return signed_in


def similar_numbers(page: str) -> list[str]:
    box = re.search(r'id="similar-cases">(.*?)</section>', page, re.S)
    return re.findall(r'data-case="(\d+)"', box.group(1)) if box else []


async def test_case_page_lists_similar_cases_and_an_agent_links_and_merges(services, desk):
    a = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    b = await new_case(services, description="东门烧烤摊又营业到凌晨两点，太吵了")
    # another citizen, at the same gate, about another kind of thing (buses): not the same matter
    elsewhere = await new_case(services, phone="13700001234", description="门口公交站的班次太少，等车要半小时",
                               category="jtys.ggjt")
    agent = await desk("agent1")
    page = await (await agent.get(f"/desk/cases/{a.number}")).text()
    assert similar_numbers(page) == [b.number] and elsewhere.number not in similar_numbers(page)
    assert "同一市民" in page and "同一地点" in page
    resp = await post(agent, f"/desk/cases/{a.number}/links", {"other": b.number, "op": "link"},
                      page=f"/desk/cases/{a.number}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/desk/cases/{a.number}?done=link"
    page = await (await agent.get(f"/desk/cases/{b.number}")).text()
    assert 'id="linked-cases"' in page and a.number in page and a.number not in similar_numbers(page)
    # merge b into a: b closes as 已合并, a shows b's words, files and history
    await services.store.add_attachment(b.id, kind="upload", filename="night.jpg", content_type="image/jpeg",
                                        data=b"\xff\xd8night")
    resp = await post(agent, f"/desk/cases/{a.number}/links", {"other": b.number, "op": "merge_here"},
                      page=f"/desk/cases/{a.number}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/desk/cases/{a.number}?done=merge_here"
    assert (await services.store.get(b.number)).status == "merged"
    page = await (await agent.get(f"/desk/cases/{a.number}?done=merge_here")).text()
    assert f'id="merged-{b.number}"' in page and "东门烧烤摊又营业到凌晨两点" in page and "night.jpg" in page
    assert "已合并到本工单" in page
    merged_page = await (await agent.get(f"/desk/cases/{b.number}")).text()
    assert 'id="merged-into"' in merged_page and a.number in merged_page and 'id="similar-cases"' not in merged_page


async def test_bad_link_requests_change_nothing(services, desk):
    a = await new_case(services)
    agent = await desk("agent1")
    for data in ({"other": a.number, "op": "link"}, {"other": "2612070000000", "op": "merge_into"},
                 {"other": "", "op": "link"}, {"other": a.number, "op": "explode"}):
        resp = await post(agent, f"/desk/cases/{a.number}/links", data, page=f"/desk/cases/{a.number}")
        assert resp.status == 400, data
    assert [e.action for e in await events_of(services, a.number)] == ["register"]


async def test_departments_neither_link_nor_see_other_departments_cases(services, desk):
    agent_client = await desk("agent1")
    mine = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    theirs = await new_case(services, description="幸福小区东门烧烤摊的油烟熏得没法开窗")
    also_mine = await new_case(services, description="东门烧烤摊又营业到凌晨两点，太吵了")
    for case, dept in ((mine, "zjj"), (theirs, "sthjj"), (also_mine, "zjj")):
        resp = await post(agent_client, f"/desk/cases/{case.number}/action", {"action": "dispatch", "department": dept})
        assert resp.status == 200
    handler = await desk("dept1")  # 住建局
    page = await (await handler.get(f"/desk/cases/{mine.number}")).text()
    assert similar_numbers(page) == [also_mine.number] and theirs.number not in page
    assert 'name="op"' not in page  # no link or merge buttons
    resp = await post(handler, f"/desk/cases/{mine.number}/links", {"other": also_mine.number, "op": "merge_here"},
                      page=f"/desk/cases/{mine.number}")
    assert resp.status == 403
    assert (await services.store.get(also_mine.number)).status == "dispatched"
    supervisor = await desk("super1")
    resp = await post(supervisor, f"/desk/cases/{mine.number}/links", {"other": also_mine.number, "op": "merge_here"},
                      page=f"/desk/cases/{mine.number}", allow_redirects=False)
    assert resp.status == 303 and (await services.store.get(also_mine.number)).status == "merged"
    # another department's case merged into ours: its words and files are ours to see from then on
    att = await services.store.add_attachment(theirs.id, kind="upload", filename="smoke.jpg",
                                              content_type="image/jpeg", data=b"\xff\xd8smoke")
    assert (await handler.get(f"/desk/cases/{theirs.number}/attachments/{att.id}")).status == 403
    resp = await post(supervisor, f"/desk/cases/{mine.number}/links", {"other": theirs.number, "op": "merge_here"},
                      page=f"/desk/cases/{mine.number}", allow_redirects=False)
    assert resp.status == 303
    page = await (await handler.get(f"/desk/cases/{mine.number}")).text()
    assert f'id="merged-{theirs.number}"' in page and "smoke.jpg" in page
    assert (await handler.get(f"/desk/cases/{theirs.number}/attachments/{att.id}")).status == 200
    other_dept = await desk("dept2")
    assert (await other_dept.get(f"/desk/cases/{mine.number}")).status == 403


async def test_intake_lists_the_callers_open_cases_and_adds_the_call_to_one(services, desk):
    first = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    agent = await desk("agent1")
    fragment = await (await agent.get("/desk/api/similar", params={
        "phone": "13812345678", "location": "幸福小区东门", "q": "烧烤摊还在营业"})).text()
    assert f'data-case="{first.number}"' in fragment and 'name="supplement_to"' in fragment
    assert 'data-case' not in await (await agent.get("/desk/api/similar", params={"phone": "139"})).text()
    handler = await desk("dept1")
    assert (await handler.get("/desk/api/similar", params={"phone": "13812345678"})).status == 403
    form = {"channel": "phone_agent", "kind": "complaint", "contact_phone": "13812345678", "contact_name": "王先生",
            "description": "东门烧烤摊今晚又营业到两点", "location": "幸福小区东门", "wants_reply": "1",
            "supplement_to": first.number}
    resp = await post(agent, "/desk/intake", form, page="/desk/intake")
    page = await resp.text()
    assert resp.status == 200 and f"已将本次来电内容补充到工单 {first.number}" in page
    assert await count(services, Case) == 1
    [event] = [e for e in await events_of(services, first.number) if e.action == "supplement"]
    assert "今晚又营业到两点" in event.comment and event.data == {"intake": "phone_agent", "by": "agent1"}
    # the plain submit still registers a case of its own
    form.pop("supplement_to")
    resp = await post(agent, "/desk/intake", form, page="/desk/intake")
    assert resp.status == 200 and await count(services, Case) == 2


async def test_rest_api_merges_only_with_a_master_named(services, client, staff_tokens):
    from conftest import auth

    a = await new_case(services, description="幸福小区东门的烧烤摊半夜营业，噪音很大")
    b = await new_case(services, description="东门烧烤摊又营业到凌晨两点，太吵了")
    path = f"/api/cases/{b.number}/actions/merge"
    resp = await client.post(path, json={}, headers=auth(staff_tokens["agent"]))
    assert resp.status == 400 and "other" in (await resp.json())["errors"]
    resp = await client.post(path, json={"into": a.number}, headers=auth(staff_tokens["department"]))
    assert resp.status == 403
    resp = await client.post(path, json={"into": a.number}, headers=auth(staff_tokens["agent"]))
    assert resp.status == 200 and (await resp.json())["status"] == "merged"
    assert (await services.store.get(a.number)).status == "registered"


async def test_portal_a_merged_case_says_where_it_went(client, services):
    from cases import case_links
    from cases.store import Actor

    resp, page = await post_form(client, "/submit", NOISE)
    master = text_of(page, "case-number")
    resp, page = await post_form(client, "/submit", AGAIN)
    number, password = text_of(page, "case-number"), text_of(page, "case-password")
    user = await services.accounts.create_user("agent9", "long-password", "agent")
    await case_links.merge(services.store, number, master, Actor.for_user(user))
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert resp.status == 200 and "已合并" in page and f"与受理编号 {master} 的诉求是同一件事" in page
    resp, page = await post_form(client, "/supplement", {"number": number, "password": password, "text": "还有一件事"})
    assert resp.status == 409 and f"请对受理编号 {master} 的诉求补充" in page
    case = await services.store.get(number)
    assert [e.action for e in await services.store.events(case.id)] == ["register", "duplicate_suspected", "merge"]


async def test_the_desk_shows_the_flag_until_an_agent_merges(client, services, desk):
    resp, page = await post_form(client, "/submit", NOISE)
    first = text_of(page, "case-number")
    resp, page = await post_form(client, "/submit", AGAIN)
    second = text_of(page, "case-number")
    agent = await desk("agent1")
    page = await (await agent.get(f"/desk/cases/{second}")).text()
    assert f'id="suspected-{first}"' in page and "身份" in page and first in similar_numbers(page)
    assert f'id="suspected-{second}"' in await (await agent.get(f"/desk/cases/{first}")).text()
    resp = await post(agent, f"/desk/cases/{first}/links", {"other": second, "op": "merge_here"},
                      page=f"/desk/cases/{first}", allow_redirects=False)
    assert resp.status == 303
    assert 'id="suspected-' not in await (await agent.get(f"/desk/cases/{first}")).text()
