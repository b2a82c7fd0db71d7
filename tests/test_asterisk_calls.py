"""Calls through a real Asterisk 22 (tests/asterisk_support.py): the project's deploy/asterisk files
on the PBX, callers coming in over a SIP trunk from a second Asterisk playing the carrier (A-law,
RFC 4733 keys), agent phones registered to the PBX, the gateway's FastAGI/AudioSocket/AMI on loopback."""
import asyncio
import itertools
import json
import time

import pytest

from asterisk_support import Caller, Events, Lab, heard_voiced_s, kill_gateway_sockets
from channels.voice import VoiceChannel
from channels.voice.ami import AmiClient, AmiConfig
from channels.voice.session import VoiceSettings
from speech.vad import VadSettings

pytestmark = pytest.mark.bot

CALLER = "13800138000"
_tags = itertools.count(1)


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


@pytest.fixture(scope="module")
def lab(bot_agent, speech_service):
    # the bot and the speech models first: on a fresh clone the bot is trained here (minutes), and
    # the PBX, its registrations and its timers start only when the gateway can answer at once
    lab = Lab().start()
    yield lab
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
async def world(lab):
    client = AmiClient(AmiConfig.from_url(lab.world_ami_url))
    client.start()
    assert await client.wait_ready(10)
    yield client
    client.close()


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


@pytest.mark.parametrize("how", ["stopped", "killed"])
async def test_callers_of_a_stopped_or_killed_gateway_reach_an_agent(lab, gateway, caller, world, how):
    answered = Events(world, "AgentAnswered")
    call = await caller().dial()
    s = await session_for(gateway)
    await bot_says(s, lambda t: "12345" in t)
    if how == "stopped":  # a notice and the hangup frame; the dialplan's failed FastAGI → the agents
        await gateway.close()
        assert s.end_reason == "gateway stopped" and s.info.next == "queue"
    else:  # connections reset, no hangup frame: AudioSocket fails under TryExec → the agents
        kill_gateway_sockets(gateway)
    await answered.wait(1, timeout=40)
    assert await call.alive()
    await call.hang_up()


@pytest.mark.parametrize("next_request", ["answered", "failed"])
async def test_key_0_reaches_a_free_agent_then_the_survey_and_the_hand_off_is_released(
        lab, gateway, caller, world, services, next_request):
    """With the "what next" FastAGI failing, the dialplan's own rule takes the caller to the agents,
    and back from them the caller still gets the survey (hotline/after-queue)."""
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
    await call.press("1")
    sender = s.info.sender_id
    await wait_for(lambda: not gateway.sessions, timeout=60, what="the end of the survey")
    conv = await services.engine.runtime.conversations.get(sender)
    assert conv.satisfaction == 1
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
    import wave

    message = b"".join([pcm async for pcm in speech_service.speak(
        "My street light is broken, please call me back.", 8000)])
    wav = lab.rec_dir / f"message-{next(_tags)}.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(message)
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
