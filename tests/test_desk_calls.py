"""Telephony from the desk beyond click-to-call, against the Asterisk-shaped manager peer
(tests/voice_peers.py, which also reads the sample dialplan deploy/asterisk/extensions.conf and
refuses an Originate into an extension it does not have, as Asterisk does):
- the three-way call (三方通话): both legs of the agent's live call move into a conference with one
  dual Redirect, and the department's duty phone is dialled into the same conference;
- scheduled callbacks and poll calls on the reminder scheduler with a controllable clock: busy and
  unanswered tries are recorded and retried, a restarted gateway carries on, a cancelled call is not
  placed, tries run out;
- MixMonitor recordings found from the call's linkedid, played with HTTP Range, only for the case's
  own calls and departments, never outside the recordings folder.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cases.models import CaseEvent, Poll, Reminder
from cases.store import Actor
from channels.desk.casework import REMINDERS
from channels.voice.recordings import BadRecording, relative_path, resolve
from desk_support import PASSWORD, login, make_users, new_case, post
from voice_peers import ANSWERED, BUSY, CONGESTION, NO_ANSWER, AmiPeer

S = dt.timedelta(seconds=1)


async def _events(services, case_id, *actions):
    async with services.db.read() as s:
        return list((await s.execute(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                             CaseEvent.action.in_(actions))
                                     .order_by(CaseEvent.id))).scalars())


async def _wait_events(services, case_id, action, n, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        found = await _events(services, case_id, action)
        if len(found) >= n:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {n} {action} events")


def _originates(peer):
    return [a for a in peer.actions if a.get("action") == "Originate"]


async def _setup(services_factory, db_url, peer, **settings):
    services = await services_factory(db_url, ami_url=f"ami://hotline:s3cret@127.0.0.1:{peer.port}", **settings)
    users = await make_users(services)
    case = await new_case(services, phone="13812345678")
    await services.store.apply(case.number, "dispatch", Actor.for_user(users["agent1"]), department_code="zjj")
    return services, users, await services.store.get(case.number)


async def test_three_way_call_moves_the_call_into_a_conference_and_dials_the_duty_phone(
        services_factory, db_url, client_factory):
    peer = await AmiPeer().start()
    try:
        services, users, case = await _setup(services_factory, db_url, peer)
        agent = await client_factory(services)
        await login(agent, "agent1")
        page_path = f"/desk/cases/{case.number}"
        page = await (await agent.get(page_path)).text()
        assert 'id="threeway-form"' in page and '<option value="zjj" selected' in page
        # not on a call: nothing is moved, the agent is told
        resp = await post(agent, f"{page_path}/threeway", {"department": "zjj"}, page=page_path)
        assert resp.status == 409 and "没有找到您正在进行的通话" in await resp.text()
        assert not [a for a in peer.actions if a.get("action") in ("Redirect", "Originate")]

        agent_ch, citizen_ch = peer.add_bridged_call("1024", "13812345678")
        linkedid = peer.shown[agent_ch]["Linkedid"]
        resp = await post(agent, f"{page_path}/threeway", {"department": "zjj"}, page=page_path)
        assert resp.status == 202 and "正在呼叫市住房和城乡建设局值班电话" in await resp.text()
        [event] = await _wait_events(services, case.id, "threeway", 1)
        assert event.data == {"department": "zjj", "linkedid": linkedid, "bridge": f"hotline-{linkedid}",
                              "result": "answered"} and event.user_id == users["agent1"].id
        setvars = [a for a in peer.actions if a.get("action") == "Setvar"]
        assert {(a["channel"], a["variable"], a["value"]) for a in setvars} == {
            (agent_ch, "HOTLINE_BRIDGE", f"hotline-{linkedid}"), (citizen_ch, "HOTLINE_BRIDGE", f"hotline-{linkedid}")}
        [redirect] = [a for a in peer.actions if a.get("action") == "Redirect"]
        assert (redirect["channel"], redirect["context"], redirect["exten"], redirect["priority"]) == (
            agent_ch, "hotline-threeway-agent", "s", "1")
        assert (redirect["extrachannel"], redirect["extracontext"], redirect["extraexten"]) == (
            citizen_ch, "hotline-threeway", "s")
        # both legs now run ConfBridge with the call's own conference, as the sample dialplan says
        assert peer.shown[agent_ch]["Application"] == "ConfBridge"
        assert peer.shown[agent_ch]["ApplicationData"] == f"hotline-{linkedid},hotline_bridge,hotline_agent"
        assert peer.shown[citizen_ch]["ApplicationData"] == f"hotline-{linkedid},hotline_bridge,hotline_party"
        assert peer.shown[agent_ch]["BridgeId"] == peer.shown[citizen_ch]["BridgeId"] != ""
        [originate] = _originates(peer)
        duty = "000081000001"  # 0000-81000001 from the department reference data
        assert originate["channel"] == f"Local/{duty}@hotline-threeway-dial"
        assert (originate["context"], originate["exten"], originate["async"]) == ("hotline-threeway", "s", "true")
        assert f"HOTLINE_BRIDGE=hotline-{linkedid}" in originate["variables"]
        assert peer.dialplan.application("hotline-threeway-dial", duty).startswith("Dial(")

        # already in the conference: one more department joins it, nothing else moves
        resp = await post(agent, f"{page_path}/threeway", {"department": "sthjj"}, page=page_path)
        assert resp.status == 202
        events = await _wait_events(services, case.id, "threeway", 2)
        assert events[-1].data["bridge"] == f"hotline-{linkedid}" and events[-1].data["department"] == "sthjj"
        assert len([a for a in peer.actions if a.get("action") in ("Redirect", "Setvar")]) == 3
        assert f"HOTLINE_BRIDGE=hotline-{linkedid}" in _originates(peer)[-1]["variables"]
        for name in (agent_ch, citizen_ch):
            peer.hang_up(name)

        # the duty phone is busy: recorded, and the agent still has the citizen
        peer.add_bridged_call("1024", "13812345678")
        peer.outcomes[duty] = [BUSY]
        resp = await post(agent, f"{page_path}/threeway", {"department": "zjj"}, page=page_path)
        assert resp.status == 202
        events = await _wait_events(services, case.id, "threeway", 3)
        assert events[-1].data["result"] == "busy"
        page = await (await agent.get(page_path)).text()
        assert "三方通话" in page and "占线" in page

        # a department without a duty phone number, an account without an extension, a handler
        resp = await post(agent, f"{page_path}/threeway", {"department": "nope"}, page=page_path)
        assert resp.status == 400
        admin = await client_factory(services)
        await login(admin, "admin1")
        assert 'id="threeway-form"' not in await (await admin.get(page_path)).text()
        resp = await post(admin, f"{page_path}/threeway", {"department": "zjj"}, page=page_path)
        assert resp.status == 400
        dept = await client_factory(services)
        await login(dept, "dept1")
        resp = await post(dept, f"{page_path}/threeway", {"department": "zjj"}, page=page_path)
        assert resp.status == 403
    finally:
        await peer.stop()


def _local(services, when: dt.datetime) -> str:
    return when.astimezone(ZoneInfo(services.settings.timezone)).strftime("%Y-%m-%dT%H:%M")


async def test_scheduled_callback_retries_busy_and_unanswered_and_survives_a_restart(
        services_factory, db_url, client_factory):
    peer = await AmiPeer().start()
    try:
        services, users, case = await _setup(services_factory, db_url, peer, call_attempts=3, call_retry_s=600,
                                             reminder_interval_s=0)
        agent = await client_factory(services)
        await login(agent, "agent1")
        page_path = f"/desk/cases/{case.number}"
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
        resp = await post(agent, f"{page_path}/schedule-call", {"kind": "callback", "due_at": _local(services, due)},
                          page=page_path)
        assert resp.status == 200 and "已预约" in await resp.text()
        resp = await post(agent, f"{page_path}/schedule-call", {"kind": "callback", "due_at": "2020-01-01T08:00"},
                          page=page_path)
        assert resp.status == 400 and "预约时间不能早于现在" in await resp.text()
        async with services.db.read() as s:
            [rem] = (await s.execute(select(Reminder).where(Reminder.case_id == case.id))).scalars().all()
        assert rem.kind == "callback" and rem.due_at == due

        # first the agent's phone is busy; then the agent answers but the citizen does not; then both do
        peer.outcomes["1024"] = [BUSY, ANSWERED]
        peer.outcomes["13812345678"] = [NO_ANSWER, ANSWERED]
        scheduler = agent.server.app[REMINDERS]
        await scheduler.run_once(due - 60 * S)
        await scheduler.settle()
        assert _originates(peer) == []                              # not before its time
        await scheduler.run_once(due + S)
        await scheduler.settle()
        [first] = _originates(peer)
        assert (first["channel"], first["context"], first["exten"]) == ("PJSIP/1024", "hotline-desk-dial",
                                                                        "13812345678")
        assert f"HOTLINE_CASE={case.number}" in first["variables"]
        await scheduler.run_once(due + 300 * S)                      # the retry waits call_retry_s
        await scheduler.settle()
        assert len(_originates(peer)) == 1

        # the gateway restarts: a new application, a new scheduler, the same database
        agent2 = await client_factory(services)
        scheduler = agent2.server.app[REMINDERS]
        assert scheduler is not agent.server.app[REMINDERS]
        await scheduler.run_once(due + 602 * S)
        await scheduler.settle()
        await scheduler.run_once(due + 1203 * S)
        await scheduler.settle()
        assert len(_originates(peer)) == 3
        await scheduler.run_once(due + 3000 * S)                     # answered: done
        await scheduler.settle()
        assert len(_originates(peer)) == 3
        attempts = await _events(services, case.id, "call_attempt")
        assert [(e.data["attempt"], e.data["result"]) for e in attempts] == [
            (1, "busy"), (2, "no_answer"), (3, "answered")]
        assert [e.data["detail"] for e in attempts] == ["agent: Reason 5", "citizen: no_answer", "citizen: answered"]
        assert "linkedid" not in attempts[1].data and attempts[-1].data["linkedid"]
        async with services.db.read() as s:
            rem = await s.get(Reminder, rem.id)
        assert rem.done_at is not None
        await login(agent2, "agent1")
        page = await (await agent2.get(page_path)).text()
        assert 'id="planned-calls"' in page and "已呼叫 3/3 次" in page and "已接通" in page
        assert "预约回电" in await (await agent2.get("/desk/reminders")).text()
        page = await (await agent2.get(page_path + "?lang=en")).text()
        assert "Three-way call" in page and "tried 3 of 3 times" in page and "Call attempt" in page
        await agent2.get(page_path + "?lang=zh")

        # a cancelled call is never placed
        due2 = due + dt.timedelta(hours=1)
        resp = await post(agent2, f"{page_path}/schedule-call", {"kind": "callback", "due_at": _local(services, due2)},
                          page=page_path)
        assert resp.status == 200
        async with services.db.read() as s:
            rem2 = (await s.execute(select(Reminder).where(Reminder.case_id == case.id, Reminder.done_at.is_(None))
                                    )).scalar_one()
        resp = await post(agent2, f"{page_path}/schedule-call/{rem2.id}/cancel", page=page_path)
        assert resp.status == 200 and "已取消" in await resp.text()
        resp = await post(agent2, f"{page_path}/schedule-call/{rem2.id}/cancel", page=page_path)
        assert resp.status == 404
        await scheduler.run_once(due2 + S)
        await scheduler.settle()
        assert len(_originates(peer)) == 3
        assert len(await _events(services, case.id, "call_cancel")) == 1
        # a department handler cannot schedule calls
        dept = await client_factory(services)
        await login(dept, "dept1")
        resp = await post(dept, f"{page_path}/schedule-call", {"kind": "callback", "due_at": _local(services, due2)},
                          page=page_path)
        assert resp.status == 403
    finally:
        await peer.stop()


async def test_scheduled_poll_call_goes_through_the_voice_channel_and_gives_up_after_the_tries(
        services_factory, db_url, client_factory):
    from channels.voice import VoiceChannel

    peer = await AmiPeer().start()
    voice = None
    try:
        services, users, case = await _setup(services_factory, db_url, peer, call_attempts=2, call_retry_s=60,
                                             reminder_interval_s=0)
        agent = await client_factory(services)
        await login(agent, "agent1")
        page_path = f"/desk/cases/{case.number}"
        async with services.db.read() as s:
            poll = (await s.execute(select(Poll).where(Poll.active.is_(True)))).scalars().first()
        page = await (await agent.get(page_path)).text()
        assert f'<option value="{poll.id}">' in page and "语音线路未开启" in page
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
        resp = await post(agent, f"{page_path}/schedule-call", {"kind": "poll_call", "poll": "999",
                                                                "due_at": _local(services, due)}, page=page_path)
        assert resp.status == 400 and "请选择一个正在进行的问卷" in await resp.text()
        resp = await post(agent, f"{page_path}/schedule-call", {"kind": "poll_call", "poll": str(poll.id),
                                                                "due_at": _local(services, due)}, page=page_path)
        assert resp.status == 200
        scheduler = agent.server.app[REMINDERS]
        # the phone line is off: the try fails with the reason and is retried later
        await scheduler.run_once(due + S)
        await scheduler.settle()
        [attempt] = await _events(services, case.id, "call_attempt")
        assert attempt.data["result"] == "error" and "voice channel is off" in attempt.data["detail"]
        assert _originates(peer) == []

        voice = VoiceChannel(None, None, ami_url=f"ami://hotline:s3cret@127.0.0.1:{peer.port}")
        voice.ami.start()
        services.voice = voice
        peer.outcomes["13812345678"] = [CONGESTION]
        await scheduler.run_once(due + 61 * S)
        await scheduler.settle()
        [originate] = _originates(peer)
        assert (originate["channel"], originate["context"], originate["exten"]) == (
            "PJSIP/13812345678@trunk", "hotline-outbound", "s")
        assert {"HOTLINE_PURPOSE=poll", f"HOTLINE_POLL={poll.id}", f"HOTLINE_CASE={case.number}"} <= set(
            originate["variables"])
        [failed] = await _events(services, case.id, "call_failed")   # two tries, both failed: stopped
        assert failed.data == {"reminder_id": attempt.data["reminder_id"], "kind": "poll_call", "attempts": 2,
                               "result": "congestion"}
        await scheduler.run_once(due + 600 * S)
        await scheduler.settle()
        assert len(_originates(peer)) == 1
    finally:
        if voice is not None:
            await voice.close()
        await peer.stop()


async def _bearer(client, username: str) -> dict:
    resp = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert resp.status == 201
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_calls_scheduled_over_the_api_are_placed_listed_and_cancelled(services_factory, db_url, client_factory):
    peer = await AmiPeer().start()
    try:
        services, users, case = await _setup(services_factory, db_url, peer, call_attempts=2, call_retry_s=60,
                                             reminder_interval_s=0)
        api = await client_factory(services)
        agent, admin, dept = [await _bearer(api, u) for u in ("agent1", "admin1", "dept1")]
        path = f"/api/cases/{case.number}/calls"
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).replace(second=0, microsecond=0)

        # what is wrong is named, field by field, and nothing is stored
        for body, field, words in [
                ({"kind": "callback", "due_at": "2020-01-01T08:00"}, "due_at", "预约时间不能早于现在"),
                ({"kind": "callback", "due_at": "明天上午"}, "due_at", "请填写有效的呼叫时间"),
                ({"kind": "fax", "due_at": due.isoformat()}, "kind", "请选择回电或问卷调查"),
                ({"kind": "poll_call", "due_at": due.isoformat(), "poll": 999}, "poll", "请选择一个正在进行的问卷"),
                ({"kind": "poll_call", "due_at": due.isoformat(), "poll": "1 OR 1=1"}, "poll", "问卷")]:
            resp = await api.post(path, json=body, headers=agent)
            assert resp.status == 400, body
            assert words in (await resp.json())["errors"][field]
        resp = await api.post(path, json={"kind": "callback", "due_at": due.isoformat()}, headers=admin)
        assert resp.status == 400 and "agent_no" in (await resp.json())["errors"]  # no extension to ring first
        resp = await api.post(path, json={"kind": "callback", "due_at": due.isoformat()}, headers=dept)
        assert resp.status == 403
        resp = await api.post(path, json={"kind": "callback", "due_at": due.isoformat()})
        assert resp.status == 401
        resp = await api.post(path, data=b"\xff{", headers={**agent, "Content-Type": "application/json"})
        assert resp.status == 400
        assert (await (await api.get(path, headers=agent)).json()) == {"calls": []}

        # a callback at a local time without an offset: the hotline's time zone
        resp = await api.post(path, json={"kind": "callback", "due_at": _local(services, due), "note": "请上午回电"},
                              headers=agent)
        assert resp.status == 201, await resp.text()
        made = await resp.json()
        assert resp.headers["Location"] == f"{path}/{made['id']}"
        assert (made["kind"], made["number"], made["agent_no"], made["done"], made["attempts"]) == (
            "callback", "13812345678", "1024", False, [])
        assert dt.datetime.fromisoformat(made["due_at"]) == due
        peer.outcomes["1024"] = [ANSWERED]
        peer.outcomes["13812345678"] = [ANSWERED]
        scheduler = api.server.app[REMINDERS]
        await scheduler.run_once(due + S)
        await scheduler.settle()
        [originate] = _originates(peer)
        assert (originate["channel"], originate["context"], originate["exten"]) == (
            "PJSIP/1024", "hotline-desk-dial", "13812345678")
        [listed] = (await (await api.get(path, headers=agent)).json())["calls"]
        assert listed["done"] and [a["result"] for a in listed["attempts"]] == ["answered"]
        assert listed["attempts"][0]["linkedid"]

        # a poll call, cancelled before its time: never placed, and cancelled only once
        async with services.db.read() as s:
            poll = (await s.execute(select(Poll).where(Poll.active.is_(True)))).scalars().first()
        resp = await api.post(path, json={"kind": "poll_call", "poll": poll.id,
                                          "due_at": (due + dt.timedelta(hours=1)).isoformat()}, headers=agent)
        assert resp.status == 201
        poll_call = await resp.json()
        assert (poll_call["kind"], poll_call["poll"]) == ("poll_call", poll.id)
        assert (await api.delete(f"{path}/{poll_call['id']}", headers=agent)).status == 204
        assert (await api.delete(f"{path}/{poll_call['id']}", headers=agent)).status == 404
        assert (await api.delete(f"{path}/{made['id']}", headers=agent)).status == 404  # answered: nothing to cancel
        await scheduler.run_once(due + dt.timedelta(hours=2))
        await scheduler.settle()
        assert len(_originates(peer)) == 1
        assert len(await _events(services, case.id, "call_cancel")) == 1
        assert len((await (await api.get(path, headers=agent)).json())["calls"]) == 2
        # the desk's page shows the same calls
        desk = await client_factory(services)
        await login(desk, "agent1")
        page = await (await desk.get(f"/desk/cases/{case.number}")).text()
        assert 'id="planned-calls"' in page and "已接通" in page
    finally:
        await peer.stop()


async def test_scheduling_calls_needs_the_telephone_system(services, client_factory):
    await make_users(services)
    case = await new_case(services)
    api = await client_factory(services)
    agent = await _bearer(api, "agent1")
    due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()
    resp = await api.post(f"/api/cases/{case.number}/calls", json={"kind": "callback", "due_at": due}, headers=agent)
    assert resp.status == 503
    assert (await api.get("/api/cases/9999999999/calls", headers=agent)).status == 404


async def test_poll_call_names_its_poll_to_the_bot():
    """The outbound context passes HOTLINE_POLL to FastAGI; the call's metadata carries it."""
    from channels.voice.agi import start_agi_server
    from channels.voice.calls import CallRegistry
    from voice_peers import agi_request

    calls = CallRegistry()
    server = await start_agi_server(calls, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        got = await agi_request("127.0.0.1", port, "hotline?direction=outbound&purpose=poll&poll=3&case=2026000001")
        info = calls.get(got["variables"]["HOTLINE_UUID"])
        assert (info.direction, info.purpose, info.poll_id, info.record["case"]) == ("outbound", "poll", "3",
                                                                                  "2026000001")
        got = await agi_request("127.0.0.1", port, "hotline?direction=outbound&purpose=poll&poll=&case=")
        assert calls.get(got["variables"]["HOTLINE_UUID"]).poll_id == ""
    finally:
        server.close()
        await server.wait_closed()


def test_recording_paths_stay_in_the_folder(tmp_path):
    assert relative_path("1764294123.12") == "20251128/1764294123.12.wav"
    for bad in ("../../etc/passwd", "1764294123.12/../../x", "", "abc.wav"):
        with pytest.raises(BadRecording):
            relative_path(bad)
    with pytest.raises(BadRecording, match="outside"):
        resolve(tmp_path, "../elsewhere.wav")
    with pytest.raises(BadRecording, match="outside"):
        resolve(tmp_path, "/etc/passwd")
    assert resolve(tmp_path, "20251128/1.2.wav") == tmp_path.resolve() / "20251128" / "1.2.wav"


async def test_call_recordings_play_with_range_for_the_right_people_only(
        services_factory, db_url, client_factory, tmp_path):
    peer = await AmiPeer().start()
    try:
        root = tmp_path / "monitor"
        services, users, case = await _setup(services_factory, db_url, peer, recordings_dir=str(root))
        agent = await client_factory(services)
        await login(agent, "agent1")
        page_path = f"/desk/cases/{case.number}"
        resp = await post(agent, f"{page_path}/call", {"target": "citizen"}, page=page_path)
        assert resp.status == 200
        [call] = await _events(services, case.id, "call")
        linkedid = call.data["linkedid"]
        assert linkedid == peer.shown[next(n for n in peer.shown if n.startswith("PJSIP/1024-"))]["Uniqueid"]
        # no file yet: nothing to play
        assert 'id="call-recordings"' not in await (await agent.get(page_path)).text()
        # what MixMonitor writes for this call in the sample dialplan: REC_DIR/YYYYMMDD/<linkedid>.wav
        wav = root / relative_path(linkedid)
        wav.parent.mkdir(parents=True)
        body = b"RIFF" + bytes(range(256)) * 40
        wav.write_bytes(body)
        page = await (await agent.get(page_path)).text()
        url = f"{page_path}/recordings/{linkedid}"
        assert 'id="call-recordings"' in page and url in page
        resp = await agent.get(url)
        assert resp.status == 200 and await resp.read() == body and resp.headers["Content-Type"] == "audio/wav"
        assert resp.headers.get("Accept-Ranges") == "bytes"
        resp = await agent.get(url, headers={"Range": "bytes=100-199"})
        assert resp.status == 206 and await resp.read() == body[100:200]
        assert resp.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
        # the case's department may listen; another department may not; a call of no case event is unknown
        dept = await client_factory(services)
        await login(dept, "dept1")
        assert (await dept.get(url)).status == 200
        other = await client_factory(services)
        await login(other, "dept2")
        assert (await other.get(url)).status == 403
        assert (await agent.get(f"{page_path}/recordings/1764294999.1")).status == 404
        assert (await agent.get(f"{page_path}/recordings/..%2F..%2Fsecret")).status == 404
        # a day folder that leads out of the recordings folder (a symlink) is refused
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "1600000000.5.wav").write_bytes(b"RIFFsecret")
        (root / "20200913").symlink_to(outside)
        async with services.db.write() as s:
            s.add(CaseEvent(case_id=case.id, actor="user:agent1", channel="phone_agent", action="call_link",
                            data={"linkedid": "1600000000.5"}))
        assert (await agent.get(f"{page_path}/recordings/1600000000.5")).status == 403
    finally:
        await peer.stop()


def test_telephony_texts_exist_in_chinese_and_english():
    """The texts built from outcomes and event names (not literal in the templates) exist in both."""
    from cases.scheduled_calls import EVENTS, KINDS
    from channels.voice.ami import ORIGINATE_REASONS
    from hotline.i18n import catalog

    for locale in ("zh", "en"):
        keys = [f"desk.phone.result_{r}" for r in [*ORIGINATE_REASONS.values(), "error"]]
        keys += [f"desk.event.{a}" for a in [*EVENTS, "threeway", "call_link", "call"]]
        keys += [f"desk.reminders.kind_{k}" for k in KINDS]
        assert [k for k in keys if k not in catalog(locale)] == [], locale


@pytest.mark.bot
async def test_a_poll_call_runs_the_poll_the_desk_chose(engine, services):
    """A poll call opens with /take_poll and the call's metadata names the poll (HOTLINE_POLL): with
    two active polls, the bot asks the chosen one's questions and stores the answers under it."""
    from bot_support import new_sender, requested_slot, say
    from cases.models import PollQuestion, PollResponse

    async with services.db.write() as s:
        second = Poll(slug="bus-poll", title="公交满意度调查", intro="共一题。", active=True)
        second.questions = [PollQuestion(position=1, text="您对公交准点满意吗？",
                                         options=[{"key": "1", "text": "满意"}, {"key": "2", "text": "不满意"}])]
        s.add(second)
    async with services.db.read() as s:
        second_id = (await s.execute(select(Poll.id).where(Poll.slug == "bus-poll"))).scalar_one()
    sender = new_sender()
    result = await say(engine, sender, "/take_poll", channel="voice", poll_id=second_id)
    assert "公交满意度调查" in result.text and "您对公交准点满意吗" in result.text
    assert await requested_slot(engine, sender) == "poll_answer"
    await say(engine, sender, "1", channel="voice")
    async with services.db.read() as s:
        [response] = (await s.execute(select(PollResponse))).scalars().all()
    assert response.poll_id == second_id
    # without a poll named, the first active poll as before
    result = await say(engine, new_sender(), "/take_poll", channel="voice")
    assert "公交满意度调查" not in result.text and "第1题" in result.text
