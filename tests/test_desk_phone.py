"""Click-to-call from the desk through AMI, against the Asterisk-shaped manager peer of the voice
tests (tests/voice_peers.py): the agent's extension rings first, then the dialplan dials the
citizen or the department; the call is in the case's history."""
from __future__ import annotations

from sqlalchemy import select

from cases.models import CaseEvent
from cases.store import Actor
from desk_support import login, make_users, new_case, post
from voice_peers import AmiPeer


async def test_click_to_call_rings_the_agent_then_the_citizen(services_factory, db_url, client_factory):
    peer = await AmiPeer().start()
    try:
        services = await services_factory(db_url, ami_url=f"ami://hotline:s3cret@127.0.0.1:{peer.port}")
        users = await make_users(services)
        case = await new_case(services, phone="13812345678")
        await services.store.apply(case.number, "dispatch", Actor.for_user(users["agent1"]), department_code="zjj")
        agent = await client_factory(services)
        await login(agent, "agent1")
        page = await (await agent.get(f"/desk/cases/{case.number}")).text()
        assert 'id="call-citizen"' in page and 'id="call-department"' in page
        resp = await post(agent, f"/desk/cases/{case.number}/call", {"target": "citizen"},
                          page=f"/desk/cases/{case.number}")
        assert resp.status == 200 and "正在呼叫" in await resp.text()
        originate = [a for a in peer.actions if a.get("action") == "Originate"][-1]
        assert originate["channel"] == "PJSIP/1024" and originate["exten"] == "13812345678"
        assert originate["context"] == "hotline-desk-dial"
        resp = await post(agent, f"/desk/cases/{case.number}/call", {"target": "department"},
                          page=f"/desk/cases/{case.number}")
        assert resp.status == 200
        dept_phone = (await services.store.get(case.number)).department.phone.replace("-", "")
        assert [a for a in peer.actions if a.get("action") == "Originate"][-1]["exten"] == dept_phone
        async with services.db.read() as s:
            calls = list((await s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                                  CaseEvent.action == "call"))).scalars())
        assert [c.data["target"] for c in calls] == ["citizen", "department"]
        # an account without an extension cannot place calls; handlers never can
        admin = await client_factory(services)
        await login(admin, "admin1")
        resp = await post(admin, f"/desk/cases/{case.number}/call", {"target": "citizen"}, page=f"/desk/cases/{case.number}")
        assert resp.status == 400
        dept = await client_factory(services)
        await login(dept, "dept1")
        resp = await post(dept, f"/desk/cases/{case.number}/call", {"target": "citizen"}, page=f"/desk/cases/{case.number}")
        assert resp.status == 403
    finally:
        await peer.stop()


async def test_no_call_buttons_without_ami(services, client):
    await make_users(services)
    case = await new_case(services)
    await login(client, "agent1")
    assert 'id="call-citizen"' not in await (await client.get(f"/desk/cases/{case.number}")).text()
    resp = await post(client, f"/desk/cases/{case.number}/call", {"target": "citizen"}, page=f"/desk/cases/{case.number}")
    assert resp.status == 503
