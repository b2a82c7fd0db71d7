"""Calls through a real Asterisk 22 (tests/asterisk_support.py): the project's deploy/asterisk files
on the PBX, callers coming in over a SIP trunk from a second Asterisk playing the carrier (A-law,
RFC 4733 keys), agent phones registered to the PBX, the gateway's FastAGI/AudioSocket/AMI on loopback."""
import asyncio
import itertools
import json
import logging
import os
import signal
import time
import wave

import pytest

from asterisk_support import (Caller, Events, GatewayProcess, Lab, free_port, heard_voiced_s, voiced_times,  # noqa: F401
                               world)
from channels.voice import VoiceChannel
from channels.voice.session import VoiceSettings
from speech.vad import VadSettings

pytestmark = pytest.mark.bot

CALLER = "13800138000"
_tags = itertools.count(1)


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


@pytest.fixture(scope="module")
def lab(bot_agent, speech_service, request, tmp_path_factory):
    # the bot and the speech models first: on a fresh clone the bot is trained here (minutes), and
    # the PBX, its registrations and its timers start only when the gateway can answer at once
    lab = Lab().start()
    # the `hotline run` processes of the tests at the end load their models (a minute or more each)
    # while the other tests run: niced, on ports of their own (the tests point the dialplan there)
    wanted = any("gateway_processes" in item.fixturenames for item in request.session.items
                 if item.module is request.module)
    lab.processes = {name: GatewayProcess(lab, tmp_path_factory.mktemp(f"gw-{name}"), agi_port=free_port(),
                                          audiosocket_port=free_port(), nice=10)
                     for name in ("killed", "stopped")} if wanted else {}
    try:
        yield lab
    finally:
        for process in lab.processes.values():
            process.stop()
        lab.stop()


@pytest.fixture
async def gateway(lab, engine, services, speech_service, tmp_path):
    settings = VoiceSettings(vad=VadSettings(min_speech_ms=160, end_silence_ms=600), no_input_s=6.0,
                             digit_timeout_s=1.5, voicemail_end_silence_ms=1500)
    channel = VoiceChannel(speech_service, engine, store=services.store, host="127.0.0.1", agi_port=lab.agi_port,
                           audiosocket_port=lab.audiosocket_port, ami_url=lab.ami_url,
                           data_dir=tmp_path / "voice", settings=settings)
    await channel.start()
    assert await channel.ami.wait_ready(10)
    yield channel
    await channel.close()
    lab.hang_up_all()


@pytest.fixture
def caller(lab, world):
    def make() -> Caller:
        return Caller(lab, world, f"c{next(_tags)}-{int(time.time())}")
    return make


async def session_for(gateway: VoiceChannel, timeout: float = 20.0):
    """The call the gateway is serving (the test places one at a time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if gateway.sessions:
            return next(iter(gateway.sessions))
        await asyncio.sleep(0.05)
    raise AssertionError("no call reached the gateway's AudioSocket")


async def bot_says(session, predicate, timeout: float = 60.0, after: int = 0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(session.turns) > after and predicate(session.turns[-1]["bot"]):
            return session.turns[-1]["bot"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"bot never said it; turns: {[t['bot'] for t in session.turns]}")


async def keys_turn(session, caller: Caller, keys: str, predicate, timeout: float = 60.0) -> str:
    before = len(session.turns)
    await caller.press(keys)
    return await bot_says(session, predicate, timeout, after=before)


def call_records(gateway) -> list[dict]:
    folder = gateway.data_dir / "calls"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


async def wait_for(predicate, timeout: float = 30.0, what: str = "it"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_trunk_call_looks_a_case_up_by_keys_and_hangs_up(lab, gateway, caller, services):
    from cases.intake import validate_case

    case, _ = await services.store.create_case(validate_case(
        {"kind": "complaint", "description": "小区门口的路灯坏了一个星期，晚上很黑", "contact_phone": CALLER},
        channel="web"))
    call = await caller().dial()
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    await keys_turn(s, call, "3", lambda t: "编号" in t)
    status = await keys_turn(s, call, case.number + "#", lambda t: "状态" in t)
    assert "".join("零幺二三四五六七八九"[int(d)] for d in case.number[:4]) in status
    await asyncio.sleep(1.0)
    await call.hang_up()
    records = await wait_for(lambda: call_records(gateway), what="the call record")
    record = records[-1]
    assert record["caller"] == CALLER and record["end_reason"] == "caller hung up"
    assert [t["source"] for t in record["turns"]][:3] == ["call", "keys", "keys"]
    # a case only looked up in the call gets neither this call's recording nor its id
    assert await services.store.attachments(case.id) == []
    assert not [e for e in await services.store.events(case.id) if e.action == "call_link"]



async def test_the_pbx_loads_the_deploy_files_without_errors(lab):
    log = lab.pbx.log_text()
    assert "chan_local" not in log  # Local channels are in the core: no module to load
    assert "hotline-inbound" in lab.pbx.cli("dialplan show hotline-inbound")
    assert "trunk-identify" in lab.pbx.cli("pjsip show identifies")


@pytest.mark.parametrize("number", ["+8657112345", ""])
async def test_the_hotline_answers_the_number_in_any_form_and_none(lab, gateway, caller, number):
    call = await caller().dial(number)
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    assert s.info.caller == CALLER
    await asyncio.sleep(4.0)  # the caller listens to the welcome
    await call.hang_up()
    # what the caller heard through A-law and the jitter buffer: the bot's voice, not silence
    assert await heard_voiced_s(call) > 1.0


@pytest.mark.parametrize("next_request", ["answered", "failed"])
async def test_key_0_reaches_a_free_agent_then_the_survey_and_the_hand_off_is_released(
        lab, gateway, caller, world, services, next_request):
    """With the "what next" FastAGI failing, the dialplan's own rule takes the caller to the agents,
    and back from them the caller still gets the survey (hotline/after-queue); that caller hangs up
    during the survey: no rating, and the hand-off is released all the same."""
    if next_request == "failed":
        async def fail(request, query):
            raise ConnectionError("the gateway went away for a moment")
        gateway.agi_app._route["hotline/next"] = fail
    answered = Events(world, "AgentAnswered")
    call = await caller().dial()
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    await call.press("0")
    [agent] = await answered.wait(1, timeout=60)
    assert s.info.record["agents_free"] >= 1 and s.info.next == "queue"
    assert s.info.phase == ("survey" if next_request == "answered" else "bot")
    await asyncio.sleep(1.0)
    await world.action({"Action": "Hangup", "Channel": agent["Phone"]})  # the agent hangs up
    survey = await wait_for(lambda: next((x for x in gateway.sessions if x.info.phase == "survey"), None),
                            what="the survey after the agent")
    await wait_for(lambda: survey.speaking is not None, what="the survey prompt")
    if next_request == "answered":
        await call.press("1")
    else:  # hung up during the survey
        await asyncio.sleep(0.5)
        await call.hang_up()
    sender = s.info.sender_id
    await wait_for(lambda: not gateway.sessions, timeout=60, what="the end of the survey")
    conv = await services.engine.runtime.conversations.get(sender)
    assert conv.satisfaction == (1 if next_request == "answered" else None)
    if next_request == "failed":
        assert survey.end_reason == "caller hung up"
    # the call is over (Asterisk's hangup handler told the gateway): nothing is left on the desk
    await wait_for(lambda: not gateway.calls.get(s.info.uuid), what="the hangup handler")
    assert not await services.engine.is_paused(sender)


async def test_a_callback_reaches_the_citizen_and_keeps_the_citizen_s_number(lab, gateway, world):
    answered = Events(world, "CitizenAnswered")
    event = await gateway.originate("13900139000", "callback")
    assert event.get("Response") == "Success", event
    [phone] = await answered.wait(1, timeout=30)
    s = await session_for(gateway)
    await bot_says(s, lambda t: bool(t))
    assert s.info.caller == "13900139000" and s.info.direction == "outbound"
    await world.action({"Action": "Hangup", "Channel": phone["Phone"]})
    records = await wait_for(lambda: call_records(gateway), what="the call record")
    assert records[-1]["caller"] == "13900139000"


async def test_a_call_through_a_local_channel_is_known_by_its_linkedid(lab, gateway):
    await gateway.ami.action({"Action": "Originate", "Channel": "Local/12345@hotline-inbound",
                              "Application": "Wait", "Data": "30", "CallerID": CALLER, "Async": "true"})
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    channels = await gateway.ami.show_channels()
    mine = next(c for c in channels if c["Channel"].endswith(";2"))
    assert s.info.uniqueid == mine["Linkedid"] != mine["Uniqueid"]
    lab.hang_up_all()


async def speech_wav(lab, speech_service, text: str):
    """`text` spoken by the test voice into a WAV the callers can play (8 kHz mono), and its audio."""
    pcm = b"".join([chunk async for chunk in speech_service.speak(text, 8000)])
    path = lab.rec_dir / f"speech-{next(_tags)}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm)
    return path, pcm


async def pause_agents(lab, gateway, paused: bool) -> None:
    for agent in ("1024", "1025"):
        await gateway.ami.action({"Action": "QueuePause", "Queue": "hotline", "Interface": f"PJSIP/{agent}",
                                  "Paused": "true" if paused else "false"})


async def reach_voicemail(lab, gateway, caller):
    await pause_agents(lab, gateway, True)
    call = await caller().dial()
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    await call.press("0")
    end = time.monotonic() + 60
    while s.voicemail is None and time.monotonic() < end:  # a key cuts the long busy prompt short
        await call.press("5")
        await asyncio.sleep(1.0)
    assert s.voicemail is not None, "no voicemail recording started"
    return call, s


async def test_a_voicemail_reads_its_number_at_once_and_gets_its_transcript_after(
        lab, gateway, caller, services, speech_service):
    wav, message = await speech_wav(lab, speech_service, "My street light is broken, please call me back.")
    try:
        call, s = await reach_voicemail(lab, gateway, caller)
        await call.say(wav)
        await asyncio.sleep(len(message) / 16000 + 0.8)
        pressed = time.monotonic()
        await call.press("#")
        [number] = await wait_for(lambda: s.info.record.get("voicemail_cases"), timeout=10, what="the case")
        assert time.monotonic() - pressed < 3.0  # filed (and read out) before the transcript is made
        await asyncio.sleep(2.0)  # the number and password being read out
        await call.hang_up()
        await wait_for(lambda: not gateway.sessions, what="the end of the call")
        case = await services.store.get(number)
        assert "正在转写" not in case.description and "转写：" in case.description
        assert [e.action for e in await services.store.events(case.id)].count("transcribed") == 1
        [att] = await services.store.attachments(case.id)
        assert att.kind == "recording"
    finally:
        await pause_agents(lab, gateway, False)


async def test_a_silent_voicemail_files_no_case(lab, gateway, caller, services):
    try:
        call, s = await reach_voicemail(lab, gateway, caller)
        await asyncio.sleep(2.5)
        await call.press("#")
        await wait_for(lambda: not gateway.sessions, timeout=30, what="the goodbye")
        assert not s.info.record.get("voicemail_cases") and s.info.next == "hangup"
    finally:
        await pause_agents(lab, gateway, False)


async def test_three_calls_at_once_each_get_their_answer(lab, gateway, caller):
    numbers = ["13800000001", "13800000002", "13800000003"]
    calls = await asyncio.gather(*(caller().dial(caller_id=n) for n in numbers))
    await wait_for(lambda: len(gateway.sessions) == 3, what="three calls")
    by_number = {s.info.caller: s for s in gateway.sessions}
    await asyncio.gather(*(bot_says(by_number[n], lambda t: "12345" in t) for n in numbers))
    await asyncio.gather(*(keys_turn(by_number[n], c, "3", lambda t: "编号" in t) for n, c in zip(numbers, calls)))
    for c in calls:
        await c.hang_up()


async def test_ami_logs_in_again_after_an_asterisk_restart_and_calls_go_on(lab, gateway, caller):
    logins = gateway.ami.logins
    lab.pbx.restart()
    await wait_for(lambda: gateway.ami.logins > logins, timeout=20, what="the AMI login after the restart")
    lab.wait_agents_registered()
    call = await caller().dial()
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    await call.hang_up()


async def test_a_restarted_gateway_serves_new_calls_without_an_asterisk_reload(
        lab, gateway, caller, world, engine, services, speech_service, tmp_path):
    """The gateway stopped mid-call and started again (an upgrade, a restart) while Asterisk runs on,
    untouched: the caller in the call reaches the agents, and the new gateway, on the same ports,
    logs in to AMI again and answers the next call, with no reload of Asterisk."""
    answered = Events(world, "AgentAnswered")
    first = await caller().dial(caller_id="13800000051")
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    await gateway.close()
    await answered.wait(1, timeout=60)
    assert await first.alive()
    await first.hang_up()
    await wait_for(lambda: lab.in_audiosocket() == 0, what="the first call out of AudioSocket")
    again = VoiceChannel(speech_service, engine, store=services.store, host="127.0.0.1", agi_port=lab.agi_port,
                         audiosocket_port=lab.audiosocket_port, ami_url=lab.ami_url,
                         data_dir=tmp_path / "voice-again", settings=gateway.settings)
    await again.start()
    try:
        assert await again.ami.wait_ready(10)
        assert await again.ami.free_agents("hotline") >= 1  # AMI answers the new gateway
        call = await caller().dial(caller_id="13800000052")
        s = await session_for(again)
        assert s.info.announced and s.info.caller == "13800000052"  # FastAGI reached the new one too
        await bot_says(s, lambda t: "12345" in t)
        await keys_turn(s, call, "3", lambda t: "编号" in t)
        await call.hang_up()
    finally:
        await again.close()


async def test_a_poll_call_opens_with_the_poll_s_first_question(lab, gateway, world, services):
    from cases.models import Poll, PollQuestion

    question = PollQuestion(position=1, text="您对供水满意吗？",
                            options=[{"key": "1", "text": "满意"}, {"key": "2", "text": "不满意"}])
    async with services.db.write() as s:
        poll = Poll(slug="water-poll", title="供水满意度调查", intro="共一题。", active=True, questions=[question])
        s.add(poll)
        await s.flush()
        poll_id = poll.id
    answered = Events(world, "CitizenAnswered")
    event = await gateway.originate("13700137000", "poll", variables={"HOTLINE_POLL": str(poll_id)})
    assert event.get("Response") == "Success", event
    [phone] = await answered.wait(1, timeout=30)
    s = await session_for(gateway)
    first = await bot_says(s, lambda t: bool(t))
    assert "供水满意度调查" in first and "您对供水满意吗" in first and "抱歉" not in first
    assert s.info.poll_id == str(poll_id) and s.info.caller == "13700137000"
    await world.action({"Action": "Hangup", "Channel": phone["Phone"]})


async def test_a_caller_may_hang_up_at_any_stage(lab, gateway, caller, speech_service, caplog):
    """Four calls at once, each hung up at another stage: during the welcome, during the menu read
    again (key *), while saying something (the recognizer mid-utterance), while typing a case number
    to look up. Each ends as "caller hung up" with nothing left behind: no call on the PBX, no call
    kept by the gateway (the hangup handler came), no error logged."""
    wav, _ = await speech_wav(lab, speech_service, "I would like to check the status of my case.")
    numbers = {"welcome": "13800000011", "menu": "13800000012", "say-or-press": "13800000013",
               "lookup": "13800000014"}
    calls = dict(zip(numbers, await asyncio.gather(*(caller().dial(caller_id=n) for n in numbers.values()))))
    await wait_for(lambda: len(gateway.sessions) == len(numbers), what="four calls")
    by = {stage: next(s for s in gateway.sessions if s.info.caller == n) for stage, n in numbers.items()}
    await asyncio.gather(*(bot_says(s, lambda t: "12345" in t) for s in by.values()))

    async def welcome():
        await asyncio.sleep(0.5)
        assert not by["welcome"].turns[1:]
        await calls["welcome"].hang_up()

    async def menu():
        await keys_turn(by["menu"], calls["menu"], "*", lambda t: "12345" in t)  # the menu again
        await asyncio.sleep(0.5)
        await calls["menu"].hang_up()

    async def say_or_press():
        await calls["say-or-press"].say(wav)
        await wait_for(lambda: by["say-or-press"].capturing, timeout=15, what="the caller's speech")
        await calls["say-or-press"].hang_up()

    async def lookup():
        await keys_turn(by["lookup"], calls["lookup"], "3", lambda t: "编号" in t)
        await calls["lookup"].press("20", gap_s=0.1)
        await wait_for(lambda: by["lookup"].keys, timeout=5, what="the first digits")
        await calls["lookup"].hang_up()

    with caplog.at_level(logging.WARNING, logger="hotline"):
        await asyncio.gather(welcome(), menu(), say_or_press(), lookup())
        await wait_for(lambda: not gateway.sessions, timeout=30, what="every call's end")
        await wait_for(lambda: not lab.channels().strip(), what="no call left on the PBX")
        await wait_for(lambda: not any(gateway.calls.get(s.info.uuid) for s in by.values()),
                       what="the hangup handlers")
    records = {r["caller"]: r for r in call_records(gateway)}
    assert {stage: records[n]["end_reason"] for stage, n in numbers.items()} == dict.fromkeys(numbers, "caller hung up")
    assert records[numbers["lookup"]]["menu_path"] == ["/greet", "/check_status"]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_nobody_answers_the_queue_so_the_caller_gets_a_voicemail(lab, gateway, caller, world, services):
    """The agents' phones ring and nobody answers: after QUEUE_WAIT (the dialplan's global) Queue()
    gives up with QUEUESTATUS=TIMEOUT and the caller is back with the gateway, which offers a
    voicemail; that caller hangs up while it records (silence: no case). A second caller hangs up
    while the queue rings. Both calls' hand-offs are released and nothing is left on the PBX."""
    lab.agents_away(True)
    lab.set_global("QUEUE_WAIT", 8)
    ringing = Events(world, "AgentRinging")
    try:
        waits, leaves = await asyncio.gather(caller().dial(caller_id="13800000021"),
                                             caller().dial(caller_id="13800000022"))
        await wait_for(lambda: len(gateway.sessions) == 2, what="two calls")
        first = {s.info.caller: s for s in gateway.sessions}
        await asyncio.gather(*(bot_says(s, lambda t: "12345" in t) for s in first.values()))
        await leaves.press("0")
        await ringing.wait(1, timeout=60)
        await leaves.hang_up()  # in the queue
        await waits.press("0")
        await ringing.wait(2, timeout=60)
        back = await wait_for(lambda: next((s for s in gateway.sessions if s.info.caller == "13800000021"
                                            and s.info.phase == "voicemail"), None),
                              timeout=60, what="the caller back from the queue")
        end = time.monotonic() + 60
        while back.voicemail is None and time.monotonic() < end:  # a key cuts the long busy prompt short
            await waits.press("5")
            await asyncio.sleep(1.0)
        assert back.voicemail is not None, "no voicemail recording started"
        await asyncio.sleep(1.0)
        await waits.hang_up()  # while the voicemail records
        await wait_for(lambda: not gateway.sessions, timeout=30, what="the end of both calls")
        await wait_for(lambda: not lab.channels().strip(), what="no call left on the PBX")
        assert back.end_reason == "caller hung up" and not back.info.record.get("voicemail_cases")
        records = call_records(gateway)
        transferred = {r["caller"] for r in records if r["next"] == "queue"}
        assert transferred == set(first), [(r["caller"], r["next"], r["end_reason"], r.get("agents_free"))
                                           for r in records]
        for s in first.values():
            await wait_for(lambda: not gateway.calls.get(s.info.uuid), what="the hangup handler")
            assert not await services.engine.is_paused(s.info.sender_id)
    finally:
        lab.agents_away(False)
        lab.set_global("QUEUE_WAIT", 300)


async def test_click_to_call_a_three_way_call_and_its_recording_from_the_desk(
        lab, world, services_factory, db_url, client_factory):
    """The desk through the PBX: click-to-call rings the agent's phone (1024), then the citizen over
    the trunk; 三方通话 brings the department's duty phone in (ConfBridge: three members, the
    agent marked, the others ending with the agent); the agent hangs up and everyone leaves. The
    call's MixMonitor recording is then listed on the case page and played with HTTP Range."""
    from channels.desk.telephony import PHONE, dialable
    from desk_support import login, make_users, new_case, post

    services = await services_factory(db_url, ami_url=lab.ami_url, recordings_dir=str(lab.rec_dir))
    await make_users(services)
    case = await new_case(services, phone="13912340000")
    duty = next(d for d in await services.store.departments() if dialable(d.phone))
    agents, citizens = Events(world, "AgentAnswered"), Events(world, "CitizenAnswered")
    agent = await client_factory(services)
    await login(agent, "agent1")
    assert await agent.server.app[PHONE].wait_ready(10)
    page = f"/desk/cases/{case.number}"
    resp = await post(agent, f"{page}/call", {"target": "citizen"}, page=page)
    assert resp.status == 200, await resp.text()
    [phone] = await agents.wait(1, timeout=30)
    [citizen] = await citizens.wait(1, timeout=60)
    assert citizen["Number"] == "13912340000"

    async def history(action: str) -> list:
        return [e for e in await services.store.events(case.id) if e.action == action]

    [placed] = await history("call")
    linkedid = placed.data["linkedid"]
    resp = await post(agent, f"{page}/threeway", {"department": duty.code}, page=page)
    assert resp.status == 202, await resp.text()
    [*_, party] = await citizens.wait(2, timeout=60)
    assert party["Number"] == dialable(duty.phone)
    [threeway] = await wait_for(lambda: history("threeway"), timeout=30, what="the three-way call's event")
    assert threeway.data["result"] == "answered" and threeway.data["linkedid"] == linkedid
    members = await wait_for(lambda: len(lab.conference(threeway.data["bridge"])) == 3
                             and lab.conference(threeway.data["bridge"]), what="three in the conference")
    flags = {channel.split("-")[0]: f for channel, f in members}
    assert "M" in flags.pop("PJSIP/1024") and all("E" in f for f in flags.values()), members
    await world.action({"Action": "Hangup", "Channel": phone["Phone"]})  # the agent hangs up
    await wait_for(lambda: not lab.conference(threeway.data["bridge"]) and not lab.channels().strip(),
                   what="everyone gone with the agent")
    from channels.voice.recordings import recording_for

    path = await wait_for(lambda: recording_for(lab.rec_dir, linkedid), what="the call's recording")
    await asyncio.sleep(1.0)  # MixMonitor's last write
    size = path.stat().st_size
    assert size > 44
    assert f"recordings/{linkedid}" in await (await agent.get(page)).text()
    resp = await agent.get(f"{page}/recordings/{linkedid}", headers={"Range": "bytes=0-99"})
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert await resp.read() == path.read_bytes()[:100]
    resp = await agent.get(f"{page}/recordings/{linkedid}", headers={"Range": "bytes=-10"})
    assert resp.status == 206 and await resp.read() == path.read_bytes()[-10:]


# ---- `hotline run` as a process of its own: stopped and killed mid-call ------------------------------
@pytest.fixture(scope="module")
def gateway_processes(lab):
    """Two gateways as an operator starts them (`hotline run`, started with the lab): "killed" and
    "stopped", each on ports of its own; `serving` points the PBX's dialplan at one of them."""
    for p in lab.processes.values():
        p.listening = p.wait_listening()
    yield lab.processes
    lab.set_global("AGI_PORT", lab.agi_port)
    lab.set_global("AUDIOSOCKET_PORT", lab.audiosocket_port)


def serving(lab, gw: GatewayProcess) -> None:
    """The PBX's calls go to this gateway (the dialplan's globals GATEWAY's ports)."""
    lab.set_global("AGI_PORT", gw.agi_port)
    lab.set_global("AUDIOSOCKET_PORT", gw.audiosocket_port)


def test_a_gateway_logs_in_to_ami_once_and_serves_on_asyncio_s_loop(lab, gateway_processes):
    """Defect 11: the voice line and the desk share one AMI login (two gateways: two sessions on
    `manager show connected`, not four); and `hotline run` serves on asyncio's loop: it makes its
    loop before it imports Rasa, whose aiogram import installs uvloop's policy for loops made later
    (under uvloop panoramisk took an AMI stream cut mid-block for a fatal transport error)."""
    for p in gateway_processes.values():
        assert p.listening["loop"] == "asyncio"
        assert p.listening["agi"].endswith(f":{p.agi_port}/hotline")
    end = time.monotonic() + 20
    while lab.ami_sessions() != 2 and time.monotonic() < end:  # the in-process gateways' ones are gone
        time.sleep(0.2)
    time.sleep(1.0)  # nobody logs in late
    assert lab.ami_sessions() == 2, lab.pbx.cli("manager show connected")


async def test_a_killed_gateway_s_callers_reach_the_agents(lab, gateway_processes, caller, world):
    """kill -9 of `hotline run` mid-call: the kernel resets its AudioSocket connections, AudioSocket()
    fails under TryExec and the dialplan takes every caller to the agents' queue: none is dropped."""
    gw = gateway_processes["killed"]
    serving(lab, gw)
    answered = Events(world, "AgentAnswered")
    calls = await asyncio.gather(*(caller().dial(caller_id=n) for n in ("13800000031", "13800000032")))
    await wait_for(lambda: lab.in_audiosocket() == 2, what="both calls talking to the gateway")
    await asyncio.sleep(1.5)  # the welcome plays
    os.kill(gw.pid, signal.SIGKILL)
    await answered.wait(2, timeout=60)
    assert [await c.alive() for c in calls] == [True, True]
    for c in calls:
        await c.hang_up()


async def test_a_stopped_gateway_s_callers_hear_a_notice_and_reach_the_agents(lab, gateway_processes, caller, world):
    """SIGTERM to `hotline run` mid-call: each caller hears the notice (系统正在维护，正在为您转接人工服务)
    and gets the hangup frame, the dialplan goes on to the agents; the process ends with status 0."""
    gw = gateway_processes["stopped"]
    serving(lab, gw)
    answered, listening = Events(world, "AgentAnswered"), Events(world, "Listening")
    calls = await asyncio.gather(*(caller().dial(caller_id=n) for n in ("13800000041", "13800000042")))
    await wait_for(lambda: lab.in_audiosocket() == 2, what="both calls talking to the gateway")
    await asyncio.sleep(1.5)  # the welcome plays
    stopped = time.monotonic()
    gw.proc.terminate()
    got = await answered.wait(2, timeout=60)
    assert await asyncio.get_running_loop().run_in_executor(None, gw.proc.wait, 60) == 0
    assert [await c.alive() for c in calls] == [True, True]
    for c in calls:
        await c.hang_up()
    await asyncio.sleep(1.0)  # MixMonitor closes what each caller heard
    first_agent = min(e["_at"] for e in got)
    for c in calls:
        started = next(e["_at"] for e in listening.got if e.get("Tag") == c.tag)
        notice = [t for t in voiced_times(c.heard, started) if stopped + 0.2 < t < first_agent]
        assert len(notice) * 0.02 > 0.5, f"{c.tag} heard {len(notice) * 0.02:.2f} s between the stop and the agent"
