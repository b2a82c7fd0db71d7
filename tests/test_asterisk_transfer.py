"""Transfers (转接) of a live call through the real Asterisk 22 (tests/asterisk_support.py): the
project's deploy/asterisk files on the PBX, the desk's REST API driving AMI, and on the carrier's
side the citizen, the agent's phone and three department duty phones.

The citizen calls 12345 with no voice gateway running, so the dialplan's own rule takes the call
straight to the agents' queue (recorded on the citizen's channel); agent 1024 answers (1025 is
paused). On the carrier's side every party makes a sound of its own, so what the citizen hears
tells who it is with: the agent a 600 Hz tone, the answering department 1000 Hz, the PBX's
transfer tone 450 Hz (ringing, holding). A sampler follows the citizen's channel on the PBX the
whole time: it must always be bridged with someone or in a step that plays the transfer tone.
"""
from __future__ import annotations

import asyncio
import itertools
import time
import wave

import numpy as np
import pytest

from asterisk_support import Caller, Events, Lab, department_phones, world  # noqa: F401 (a fixture)
from conftest import auth
from channels.voice.recordings import relative_path

CALLER = "13800138000"
ANSWERS, BUSY, SILENT = "95001", "95002", "95003"
AGENT_HZ, DEPT_HZ, TONE_HZ = 600, 1000, 450
RING_S = 4
_tags = itertools.count(1)


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


@pytest.fixture(scope="module")
def lab():
    lab = Lab(department_phones(ANSWERS, BUSY, SILENT, dept_hz=DEPT_HZ, agent_hz=AGENT_HZ)).start()
    yield lab
    lab.stop()


@pytest.fixture
async def desk(lab, services_factory, db_url, client_factory):
    """The gateway's desk and REST API on the PBX's AMI, agent 1024 signed in; 1025 is paused so
    every queue call reaches 1024."""
    services = await services_factory(db_url, ami_url=lab.ami_url, transfer_ring_s=RING_S,
                                      recordings_dir=str(lab.rec_dir))
    client = await client_factory(services)
    await services.accounts.create_user("agent1024", "secret-pass-1", "agent", agent_no="1024")
    resp = await client.post("/api/auth/token", json={"username": "agent1024", "password": "secret-pass-1"})
    token = (await resp.json())["token"]
    from channels.desk.telephony import PHONE

    ami = client.server.app[PHONE]
    assert await ami.wait_ready(10)
    await ami.action({"Action": "QueuePause", "Queue": "hotline", "Interface": "PJSIP/1025", "Paused": "true"})
    yield services, client, auth(token), ami
    lab.hang_up_all()
    await asyncio.sleep(0.3)


async def new_case(services):
    from cases.intake import validate_case

    case, _ = await services.store.create_case(validate_case(
        {"kind": "report", "description": "路口井盖被车压碎了，很危险，请尽快处理", "contact_phone": CALLER},
        channel="web"))
    return case


class Sampler:
    """The citizen's channel on the PBX every 0.2 s: (time, application, bridged)."""

    AUDIBLE = {"Dial", "Queue", "Wait", "Bridge", "AppDial", "AppQueue"}

    def __init__(self, ami):
        self.ami, self.samples, self._task = ami, [], None

    async def _run(self):
        while True:
            try:
                channels = await self.ami.show_channels()
            except Exception:
                channels = []
            mine = [c for c in channels if c.get("CallerIDNum") == CALLER and c.get("Uniqueid") == c.get("Linkedid")]
            if mine:
                c = mine[0]
                self.samples.append((time.monotonic(), c.get("Application", ""), bool(c.get("BridgeId"))))
            await asyncio.sleep(0.2)

    def start(self):
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def longest_silence(self) -> float:
        """Seconds in a row when the citizen was neither bridged nor in a step that plays a tone."""
        worst, since = 0.0, None
        for at, app, bridged in self.samples:
            if bridged or app in self.AUDIBLE:
                since = None
            else:
                since = since or at
                worst = max(worst, at - since)
        return worst


def tone_seconds(path, hz: int, last_s: float | None = None) -> float:
    """Seconds of `path` (of its last `last_s` seconds) whose strongest frequency is `hz` (±25 Hz).
    Positions in a recording are not wall-clock times (no audio, no frames), so the tests look at
    what is heard, or at how a call ends, not at offsets."""
    if not path.exists():
        return 0.0
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32)
    if last_s is not None:
        pcm = pcm[-int(last_s * rate):]
    block = rate // 10
    n = len(pcm) // block
    hits = 0
    for i in range(n):
        chunk = pcm[i * block:(i + 1) * block]
        if np.abs(chunk).max() < 300:
            continue
        spectrum = np.abs(np.fft.rfft(chunk * np.hanning(block)))
        if abs(np.argmax(spectrum) * rate / block - hz) <= 25:
            hits += 1
    return hits / 10


async def call_in(lab, world) -> tuple[Caller, dict]:
    """A citizen's call that agent 1024 answered: (the caller, the agent's AgentAnswered)."""
    answered = Events(world, "AgentAnswered")
    caller = Caller(lab, world, f"x{next(_tags)}-{int(time.time())}")
    await caller.dial("12345", caller_id=CALLER)
    [agent] = await answered.wait(1, timeout=40)
    await asyncio.sleep(0.5)  # they talk
    return caller, agent


async def gone(ami, channel: str) -> bool:
    try:
        await ami.action({"Action": "Getvar", "Channel": channel, "Variable": "CHANNEL"})
        return False
    except Exception:
        return True


async def transfer(client, headers, **body) -> dict:
    resp = await client.post("/api/calls/transfers", json=body, headers=headers)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def until(client, headers, transfer_id, predicate, timeout=30.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        view = await (await client.get(f"/api/calls/transfers/{transfer_id}", headers=headers)).json()
        if predicate(view):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"transfer {transfer_id} stuck: {view}")


async def history(services, case) -> list:
    return [(e.action, e.data) for e in await services.store.events(case.id) if e.action.startswith("transfer")]


def recording(lab, agent_event_linkedid: str):
    return lab.rec_dir / relative_path(agent_event_linkedid)


async def ends_heard(lab, caller, sampler, outcome: str, linkedid: str, *, toned: bool = True) -> None:
    """The citizen, still on the line, hangs up; never silent meanwhile; heard the transfer tone and
    ends with the department (answered) or the agent; the call's recording followed the citizen."""
    assert await caller.alive()
    await caller.hang_up()
    await sampler.stop()
    assert sampler.longest_silence() < 1.0, sampler.samples
    await asyncio.sleep(1.0)
    if toned:  # the transfer tone while it rang or held (a busy number answers at once)
        assert tone_seconds(caller.heard, TONE_HZ) > 0.25
    assert tone_seconds(caller.heard, DEPT_HZ if outcome == "answered" else AGENT_HZ, last_s=1.5) > 1.0
    if outcome == "answered":
        assert tone_seconds(recording(lab, linkedid), DEPT_HZ) > 1.0


@pytest.mark.parametrize("number,outcome,back", [(ANSWERS, "answered", None), (BUSY, "busy", "agent"),
                                                 (SILENT, "no_answer", "agent")])
async def test_blind_transfer(lab, world, desk, number, outcome, back):
    services, client, headers, ami = desk
    case = await new_case(services)
    if number == ANSWERS:  # the directory's duty phone
        from sqlalchemy import update

        from cases.models import Department
        async with services.db.write() as s:
            await s.execute(update(Department).where(Department.code == "zjj").values(phone=ANSWERS))
    caller, _ = await call_in(lab, world)
    sampler = Sampler(ami).start()
    ringing = Events(world, "DeptRinging", Number=number)
    again = Events(world, "AgentAnswered")
    body = {"department": "zjj"} if number == ANSWERS else {"number": number}
    started = await transfer(client, headers, mode="blind", case=case.number, **body)
    assert started["state"] == "dialing" and started["linkedid"]
    await ringing.wait(1, timeout=10)
    done = await until(client, headers, started["id"], lambda v: v["state"] == "done", timeout=RING_S + 30)
    assert (done["outcome"], done["returned_to"]) == (outcome, back)
    if back == "agent":  # the agent's phone rang again and the agent has the citizen back
        await again.wait(1, timeout=10)
    await asyncio.sleep(2.0)
    await ends_heard(lab, caller, sampler, outcome, started["linkedid"])
    actions = [a for a, _ in await history(services, case)]
    assert actions == ["transfer", "transfer_result"] + (["transfer_back"] if back else [])
    events = dict(await history(services, case))
    assert events["transfer_result"]["outcome"] == outcome and events["transfer"]["agent_no"] == "1024"


@pytest.mark.parametrize("number,outcome", [(ANSWERS, "answered"), (ANSWERS, "cancelled"), (BUSY, "busy"),
                                            (SILENT, "no_answer")])
async def test_attended_transfer(lab, world, desk, number, outcome):
    """Answered: the agent talks to the department, then completes (or takes the citizen back:
    cancelled); busy and silent numbers bring the citizen back to the agent by themselves."""
    services, client, headers, ami = desk
    case = await new_case(services)
    caller, agent = await call_in(lab, world)
    sampler = Sampler(ami).start()
    answered = Events(world, "DeptAnswered")
    started = await transfer(client, headers, mode="attended", case=case.number, number=number)
    if number == ANSWERS:
        await answered.wait(1, timeout=10)
        await until(client, headers, started["id"], lambda v: v["state"] == "consulting")
        await asyncio.sleep(1.0)  # the agent talks to the department; the citizen holds
        step = "complete" if outcome == "answered" else "take-back"
        resp = await client.post(f"/api/calls/transfers/{started['id']}/{step}", headers=headers)
        assert resp.status == 200, await resp.text()
        done = await until(client, headers, started["id"], lambda v: v["state"] == "done")
        assert (done["outcome"], done["returned_to"]) == (outcome, None if outcome == "answered" else "agent")
        await asyncio.sleep(2.0)
        assert await gone(world, agent["Phone"]) == (outcome == "answered")  # completed: the agent left
        again = await client.post(f"/api/calls/transfers/{started['id']}/{step}", headers=headers)
        assert again.status == 409  # nothing left to complete or take back
    else:
        done = await until(client, headers, started["id"], lambda v: v["state"] == "done", timeout=RING_S + 20)
        assert (done["outcome"], done["returned_to"]) == (outcome, "agent")
        await asyncio.sleep(2.0)
    await ends_heard(lab, caller, sampler, outcome, started["linkedid"], toned=outcome != "busy")
    result = dict(await history(services, case))["transfer_result"]
    assert result["outcome"] == outcome and result["mode"] == "attended"


async def test_the_citizen_hanging_up_mid_transfer(lab, world, desk):
    services, client, headers, ami = desk
    case = await new_case(services)
    caller, _ = await call_in(lab, world)
    ringing = Events(world, "DeptRinging", Number=SILENT)
    started = await transfer(client, headers, mode="blind", case=case.number, number=SILENT)
    await ringing.wait(1, timeout=10)
    await caller.hang_up()
    done = await until(client, headers, started["id"], lambda v: v["state"] == "done")
    assert done["outcome"] == "citizen_hung_up"
    # nothing of the call is left ringing on the PBX
    end = time.monotonic() + 10
    while time.monotonic() < end and [c for c in await ami.show_channels() if c.get("Linkedid") == started["linkedid"]]:
        await asyncio.sleep(0.2)
    assert not [c for c in await ami.show_channels() if c.get("Linkedid") == started["linkedid"]]
    assert dict(await history(services, case))["transfer_result"]["outcome"] == "citizen_hung_up"


async def test_the_agent_hanging_up_mid_consultation_sends_the_citizen_to_the_queue(lab, world, desk):
    services, client, headers, ami = desk
    case = await new_case(services)
    caller, agent = await call_in(lab, world)
    sampler = Sampler(ami).start()
    answered = Events(world, "DeptAnswered")
    again = Events(world, "AgentAnswered")
    started = await transfer(client, headers, mode="attended", case=case.number, number=ANSWERS)
    await answered.wait(1, timeout=10)
    await world.action({"Action": "Hangup", "Channel": agent["Phone"]})  # the agent hangs up
    done = await until(client, headers, started["id"], lambda v: v["state"] == "done")
    assert (done["outcome"], done["returned_to"]) == ("agent_hung_up", "queue")
    await again.wait(1, timeout=30)  # the queue found an agent for the citizen
    assert await caller.alive()
    await caller.hang_up()
    await sampler.stop()
    assert sampler.longest_silence() < 1.0, sampler.samples
    actions = [a for a, _ in await history(services, case)]
    assert actions == ["transfer", "transfer_result", "transfer_back"]


async def test_no_live_call_and_bad_targets_change_nothing(lab, desk):
    services, client, headers, ami = desk
    resp = await client.post("/api/calls/transfers", json={"mode": "blind", "number": ANSWERS}, headers=headers)
    assert resp.status == 409 and "call" in (await resp.json())["errors"]
    for body, field in (({"mode": "blind", "number": "12ab"}, "number"), ({"mode": "blind"}, "target"),
                        ({"mode": "blind", "number": ANSWERS, "leader": 1}, "target"),
                        ({"mode": "sideways", "number": ANSWERS}, "mode"), ({"mode": "blind", "leader": 999}, "leader")):
        resp = await client.post("/api/calls/transfers", json=body, headers=headers)
        assert resp.status == 400 and field in (await resp.json())["errors"], (body, await resp.text())
    from sqlalchemy import func, select

    from cases.models import CallTransfer
    async with services.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(CallTransfer)) == 0


async def test_the_desk_shows_leaders_by_name_and_refuses_without_a_live_call(lab, desk, client_factory):
    from desk_support import login

    from cases.models import Leader
    services, client, headers, ami = desk
    case = await new_case(services)
    async with services.db.write() as s:
        s.add(Leader(name="李明", title="副市长", phone="13905710001", position=1))
    assert (await login(client, "agent1024")).status == 302
    page = await (await client.get(f"/desk/cases/{case.number}")).text()
    assert 'id="transfer-form"' in page and "副市长 李明" in page and "13905710001" not in page
    from desk_support import post

    resp = await post(client, "/desk/transfers", {"mode": "blind", "target": "leader:1", "case": case.number,
                                                  "back": f"/desk/cases/{case.number}"})
    assert resp.status == 409 and "没有找到您正在进行的通话" in await resp.text()
    # the live call page of a phone hand-off the agent holds offers the same panel
    from cases.conversations import ConversationLog
    handoff = await ConversationLog(services.db).request_handoff("voice-xfer-1", "phone_self", "asked", {}, [],
                                                               caller=CALLER)
    resp = await post(client, f"/desk/live/{handoff.id}/take", page="/desk/live", allow_redirects=False)
    assert resp.status == 302, await resp.text()
    page = await (await client.get("/desk/live/chat/voice-xfer-1")).text()
    assert 'id="transfer-form"' in page and "副市长 李明" in page and "13905710001" not in page
    # admins keep the list on the data maintenance screen; agents may not open it
    assert (await client.get("/desk/admin/leaders")).status == 403
    await services.accounts.create_user("admin9", "secret-pass-1", "admin")
    admin = await client_factory(services)
    await login(admin, "admin9")
    bad = await post(admin, "/desk/admin/leaders", {"name": "张华", "title": "市长", "phone": "市长热线"},
                     page="/desk/admin/leaders")
    assert bad.status == 400
    made = await post(admin, "/desk/admin/leaders", {"name": "张华", "title": "市长", "phone": "0571-1234 5678",
                                                     "active": "1"}, page="/desk/admin/leaders", allow_redirects=False)
    assert made.status == 302
    assert "057112345678" in await (await admin.get("/desk/admin/leaders")).text()


async def test_leaders_numbers_are_for_admins_only(client, staff_tokens):
    admin, agent = auth(staff_tokens["admin"]), auth(staff_tokens["agent"])
    leader = {"name": "王强", "title": "市长", "phone": "0571-8800 1234"}
    assert (await client.post("/api/leaders", json=leader, headers=agent)).status == 403
    resp = await client.post("/api/leaders", json=leader, headers=admin)
    assert resp.status == 201 and (await resp.json())["phone"] == "057188001234"
    made = (await resp.json())["id"]
    bad = await client.post("/api/leaders", json={"name": "王强", "phone": "call me"}, headers=admin)
    assert bad.status == 400 and "phone" in (await bad.json())["errors"]
    [seen] = (await (await client.get("/api/leaders", headers=agent)).json())["leaders"]
    assert seen["name"] == "王强" and "phone" not in seen
    [full] = (await (await client.get("/api/leaders", headers=admin)).json())["leaders"]
    assert full["phone"] == "057188001234"
    assert (await client.get("/api/leaders", headers=auth(staff_tokens["department"]))).status == 403
    assert (await client.delete(f"/api/leaders/{made}", headers=agent)).status == 403
    assert (await client.delete(f"/api/leaders/{made}", headers=admin)).status == 204
    assert (await (await client.get("/api/leaders", headers=admin)).json())["leaders"] == []
