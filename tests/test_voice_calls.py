"""Whole calls through the voice channel: the trained bot, the real speech models, and peers that
behave as Asterisk 22 does (tests/voice_peers.py) on FastAGI, AudioSocket and AMI.

The models are the registry's (Korean Vosk, English Piper), so nothing here can check that Mandarin
is understood: spoken turns check that real recognition output reaches the bot and that the reply
comes back as paced audio; the menu, numbers and survey are driven by keys, as callers may."""
import asyncio
import json
import time
import wave
from io import BytesIO

import pytest
import sqlalchemy as sa

from cases.models import ServiceRating
from channels.voice import VoiceChannel
from channels.voice.session import VoiceSettings
from channels.voice.timing import STAGES
from hotline.memory import freeze_long_lived
from speech.vad import VadSettings
from voice_peers import AmiPeer, AudioSocketCaller, agi_request

pytestmark = pytest.mark.bot

CALLER = "13800138000"


@pytest.fixture
def db_url(sqlite_url):
    """Calls run on SQLite only: the case store itself is tested on both databases elsewhere,
    and each call here takes real seconds."""
    return sqlite_url


@pytest.fixture
async def voice(engine, services, speech_service, tmp_path):
    channels = []

    async def make(ami_url: str = "") -> VoiceChannel:
        settings = VoiceSettings(vad=VadSettings(min_speech_ms=160, end_silence_ms=600), no_input_s=6.0,
                                 digit_timeout_s=1.5, voicemail_end_silence_ms=1500)
        channel = VoiceChannel(speech_service, engine, store=services.store, host="127.0.0.1", agi_port=0,
                               audiosocket_port=0, ami_url=ami_url, data_dir=tmp_path / "voice", settings=settings)
        await channel.start()
        freeze_long_lived()  # as the gateway does once its channels are up (hotline/server.py)
        channels.append(channel)
        return channel

    yield make
    for c in channels:
        await c.close()


async def place_call(channel: VoiceChannel, caller: str | None = CALLER, **peer) -> AudioSocketCaller:
    """What the sample dialplan does: FastAGI announces the call, then AudioSocket(${HOTLINE_UUID})."""
    if caller is None:
        return await AudioSocketCaller("127.0.0.1", channel.audiosocket_port, **peer).connect()
    got = await agi_request("127.0.0.1", channel.agi_port, "hotline", callerid=caller)
    return await AudioSocketCaller("127.0.0.1", channel.audiosocket_port,
                                   call_uuid=got["variables"]["HOTLINE_UUID"], **peer).connect()


def session_of(channel: VoiceChannel, call: AudioSocketCaller):
    s = channel.session(call.call_uuid)
    assert s is not None, "no session for this call"
    return s


async def bot_said(channel, call, predicate, timeout=60.0) -> str:
    """Wait until the bot's latest reply in this call satisfies `predicate`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = channel.session(call.call_uuid)
        if s is not None and s.turns and predicate(s.turns[-1]["bot"]):
            return s.turns[-1]["bot"]
        if call.closed:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"bot never said it; turns: {s.turns if s else None}")


async def key_turn(channel, call, keys: str, predicate, timeout=60.0) -> str:
    """Press keys over the prompt (barge-in), then wait for the bot's answer and its audio."""
    s = session_of(channel, call)
    before = len(s.turns)
    pressed = time.monotonic()
    call.press(keys)
    end = time.monotonic() + timeout
    while len(s.turns) <= before and time.monotonic() < end and not call.closed:
        await asyncio.sleep(0.05)
    text = await bot_said(channel, call, predicate, timeout)
    await call.wait_voiced_after(pressed + 0.3, timeout)
    return text


def call_records(channel) -> list[dict]:
    folder = channel.data_dir / "calls"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


async def test_keypad_call_looks_up_a_case_digit_by_digit(voice, services):
    from cases.intake import validate_case

    case, password = await services.store.create_case(validate_case(
        {"kind": "complaint", "description": "小区门口的路灯坏了一个星期，晚上很黑", "contact_phone": CALLER},
        channel="web"))
    channel = await voice()
    call = await place_call(channel)
    greeting = await bot_said(channel, call, lambda t: "12345" in t)
    await call.wait_voiced_after(0, 60)  # the welcome is playing
    assert session_of(channel, call).key_map["3"] == "/check_status"
    await key_turn(channel, call, "3", lambda t: "编号" in t)
    # calling from the case's own number verifies the caller: the status is read at once
    status = await key_turn(channel, call, case.number + "#", lambda t: "状态" in t)
    # the number read digit by digit on the phone (its first four digits are the year and month
    # it was made: whatever today is, the reading is derived from the number, not written out)
    spoken_head = "".join("零幺二三四五六七八九"[int(d)] for d in case.number[:4])
    assert spoken_head in status
    # Asterisk hangs up after 2 s without a frame; the pacing thread keeps well inside that even
    # while a bot turn holds the event loop (a hold-up of the whole process under a second is tolerated)
    assert not call.timed_out and call.max_gap() < 1.0 and not call.protocol_errors
    await call.hang_up()
    await asyncio.sleep(0.5)
    record = call_records(channel)[-1]
    assert record["caller"] == CALLER and record["announced"] and "/check_status" in record["menu_path"]
    assert [t["source"] for t in record["turns"]][:3] == ["call", "keys", "keys"]
    # from another number the password is asked for, keyed digit by digit
    other = await place_call(channel, caller="13900139000")
    await bot_said(channel, other, lambda t: "12345" in t)
    await key_turn(channel, other, "3", lambda t: "编号" in t)
    await key_turn(channel, other, case.number + "#", lambda t: "密码" in t)
    await key_turn(channel, other, password + "#", lambda t: "状态" in t)
    assert not other.timed_out and other.max_gap() < 1.0
    await other.hang_up()
    assert greeting and record["end_reason"] == "caller hung up"


@pytest.mark.parametrize("key, expect", [("4", "问题"), ("5", "调查"), ("1", "")])
async def test_each_menu_key_reaches_its_service(voice, key, expect):
    channel = await voice()
    call = await place_call(channel)
    await bot_said(channel, call, lambda t: "12345" in t)
    await call.wait_voiced_after(0, 60)
    said = await key_turn(channel, call, key, lambda t: expect in t)
    assert said
    s = session_of(channel, call)
    assert s.turns[-1]["said"] == {"1": "/mayor_mailbox", "4": "/ask_policy", "5": "/take_poll"}[key]
    await call.hang_up()


async def test_spoken_turn_is_recognized_and_answered_with_paced_audio(voice, speech_service):
    channel = await voice()
    call = await place_call(channel)
    await bot_said(channel, call, lambda t: "12345" in t)
    await call.wait_voiced_after(0, 60)
    # the caller speaks over the welcome (barge-in) with real synthesized speech at real-time pace
    speech = b"".join([pcm async for pcm in speech_service.speak("I want to make a complaint about noise.", 8000)])
    s = session_of(channel, call)
    call.say(speech)
    call.pause(1.5)
    end = time.monotonic() + 90
    while time.monotonic() < end and not any(t["source"] == "speech" for t in s.turns):
        await asyncio.sleep(0.05)
    spoken = next(t for t in s.turns if t["source"] == "speech")
    assert spoken["said"].strip() and spoken["bot"]  # the recognizer's words went to the bot, which answered
    # the call record says how long the caller waited: the end-of-speech window, then the rest
    assert 550 <= spoken["recognized_ms"] <= spoken["wait_ms"] < 30000
    assert s.barge_ins  # the welcome stopped when the caller spoke...
    began = call.speech_starts[0]
    stopped = call.stopped_talking_after(began)
    # ...within 200 ms of being sure it is speech, not a cough (min_speech_ms = 160)
    assert stopped is not None and stopped - began <= 0.16 + 0.2, f"the welcome went on {stopped - began:.3f} s"
    reply_at = await call.wait_voiced_after(call.sent_voiced_until + 0.3, 60)
    assert reply_at > call.sent_voiced_until
    # the wait for it, timed stage by stage (channels/voice/timing.py): every stage, in order, the
    # last one the moment the frame the caller first heard as voice was sent
    timing = s.timings[0]
    assert list(timing.stages_ms()) == [name for name, _, _ in STAGES]
    assert timing.heard < timing.ended <= timing.recognized <= timing.answered <= timing.queued < timing.sent < reply_at
    assert reply_at - timing.sent < 0.5
    # paced: 20 ms frames at real time, never a 2-second hole, only audio frames
    await asyncio.sleep(1.5)
    frames = [r for r in call.received if r.at > reply_at][:50]
    assert len(frames) == 50 and {len(r.payload) for r in frames} == {320} and {r.kind for r in frames} == {0x10}
    recent = [r for r in call.received if r.at > reply_at + 0.2]
    span = recent[-1].at - recent[0].at
    assert 0.8 * span <= len(recent) * 0.02 <= 1.25 * span + 0.1
    assert not call.timed_out and call.max_gap() < 1.0
    await call.hang_up()


async def test_a_caller_whose_line_goes_silent_after_speaking_gets_a_reply(voice, speech_service):
    """Silence suppression (a phone's VAD, a trunk's DTX): no frame comes while the caller is
    quiet, so the end of the utterance is timed by the clock; it once never came, and the caller
    heard nothing more after the welcome stopped for their words."""
    channel = await voice()
    call = await place_call(channel, silence_suppression=True)
    await bot_said(channel, call, lambda t: "12345" in t)
    await call.wait_voiced_after(0, 60)
    speech = b"".join([pcm async for pcm in speech_service.speak("I want to make a complaint about noise.", 8000)])
    s = session_of(channel, call)
    call.say(speech)  # and then nothing at all: no frames
    while not call._out.empty() or not call.sent_voiced_until:
        await asyncio.sleep(0.05)
    reply_at = await call.wait_voiced_after(call.sent_voiced_until + 0.3, 60)
    assert reply_at > call.sent_voiced_until and s.replied_at  # the bot's answer, or "didn't hear you"
    assert s.barge_ins and not call.timed_out
    await call.hang_up()


async def test_barge_in_by_key_stops_the_prompt_within_200_ms(voice):
    channel = await voice()
    call = await place_call(channel)
    await bot_said(channel, call, lambda t: "12345" in t)
    start = await call.wait_voiced_after(0, 60)
    await asyncio.sleep(1.0)
    assert call.last_voiced() > start + 0.8  # the welcome is still playing
    pressed = time.monotonic()
    call.press("9", key_s=0.0)  # not a menu key: the start of a number, so nothing plays after it
    await asyncio.sleep(1.0)
    last = call.last_voiced()
    assert last - pressed <= 0.2, f"the prompt went on for {last - pressed:.3f} s after the key"
    assert session_of(channel, call).barge_ins
    await call.hang_up()


async def test_a_malformed_frame_ends_that_call_only(voice):
    channel = await voice()
    good, bad = await place_call(channel), await place_call(channel, caller="13900139000")
    await bot_said(channel, good, lambda t: "12345" in t)
    await bot_said(channel, bad, lambda t: "12345" in t)
    bad.send_raw(b"\x42\x00\x02zz")  # not a frame kind Asterisk has
    await bad.finished(5)
    assert bad.closed and not bad.hung_up_by_server
    await asyncio.sleep(0.3)
    assert any("malformed frame: unknown frame kind 0x42" in r["end_reason"] for r in call_records(channel))
    # the other call goes on: its audio keeps coming and keys still work
    await key_turn(channel, good, "3", lambda t: "编号" in t)
    assert not good.closed and not good.timed_out
    await good.hang_up()


async def test_a_call_no_fastagi_request_announced_is_served_as_unknown_caller(voice):
    channel = await voice()
    call = await place_call(channel, caller=None)
    await bot_said(channel, call, lambda t: "12345" in t)
    await key_turn(channel, call, "4", lambda t: "问题" in t)
    await call.hang_up()
    await asyncio.sleep(0.3)
    record = call_records(channel)[-1]
    assert record["uuid"] == call.call_uuid and not record["announced"] and record["caller"] == ""


async def test_transfer_to_a_free_agent_then_the_survey(voice, services):
    peer = await AmiPeer().start()
    try:
        channel = await voice(f"ami://hotline:s3cret@127.0.0.1:{peer.port}")
        assert await channel.ami.wait_ready(5)
        call = await place_call(channel)
        await bot_said(channel, call, lambda t: "12345" in t)
        call.press("0")
        await call.finished(60)
        assert call.hung_up_by_server and not call.protocol_errors
        got = await agi_request("127.0.0.1", channel.agi_port, f"hotline/next?uuid={call.call_uuid}")
        assert got["variables"] == {"HOTLINE_NEXT": "queue", "HOTLINE_QUEUE": "hotline"}
        assert any(a.get("action") == "QueueStatus" for a in peer.actions)
        # the agent hangs up; the dialplan brings the caller back to AudioSocket for the survey
        again = await AudioSocketCaller("127.0.0.1", channel.audiosocket_port, call_uuid=call.call_uuid).connect()
        await again.wait_voiced_after(0, 60)
        again.press("1")
        await again.finished(90)
        assert again.hung_up_by_server
        conv = await services.engine.runtime.conversations.get(f"voice-{call.call_uuid}")
        assert conv.satisfaction == 1
        got = await agi_request("127.0.0.1", channel.agi_port, f"hotline/next?uuid={call.call_uuid}")
        assert got["variables"] == {"HOTLINE_NEXT": "hangup"}
    finally:
        await peer.stop()


async def voicemail_call(voice, speech_service, *, hang_up_while_recording: bool):
    peer = await AmiPeer(members=[{"Name": "PJSIP/1024", "Status": "2", "Paused": "0", "InCall": "1"}]).start()
    channel = await voice(f"ami://hotline:s3cret@127.0.0.1:{peer.port}")
    assert await channel.ami.wait_ready(5)
    call = await place_call(channel)
    await bot_said(channel, call, lambda t: "12345" in t)
    call.press("0")
    s = session_of(channel, call)
    while s.voicemail is None and not call.closed:  # the busy prompt, then the tone
        call.press("5", key_s=0.0)  # keys cut the long prompt short (barge-in)
        await asyncio.sleep(1.0)
    message = b"".join([pcm async for pcm in speech_service.speak("My street light is broken, please call me back.", 8000)])
    call.say(message)
    await asyncio.sleep(len(message) / 16000 + 0.5)
    return peer, channel, call, s


async def test_busy_queue_takes_a_voicemail_that_lands_as_a_case_with_its_wav(voice, services, speech_service):
    peer, channel, call, s = await voicemail_call(voice, speech_service, hang_up_while_recording=False)
    try:
        call.press("#")
        end = time.monotonic() + 60
        while not s.info.record.get("voicemail_cases") and time.monotonic() < end:
            await asyncio.sleep(0.1)
        number = s.info.record["voicemail_cases"][0]
        case = await services.store.get(number)
        assert case.contact_phone == CALLER and case.channel == "phone_self" and "电话留言" in case.description
        [att] = await services.store.attachments(case.id)
        data = services.store.attachment_path(att.sha256).read_bytes()
        with wave.open(BytesIO(data)) as w:
            assert w.getframerate() == 8000 and w.getnframes() / 8000 > 1.5
        call.press("*")  # hear the number again, then the survey
        await asyncio.sleep(1.0)
        call.press("3")
        await call.finished(120)
        assert call.hung_up_by_server
        # the caller rated the service; the case's outcome rating waits for its 回访
        assert (await services.store.get(number)).satisfaction is None
        async with services.db.read() as db:
            assert (await db.execute(sa.select(ServiceRating.value))).scalars().all() == [3]
        # the case names the call's Asterisk id, which its MixMonitor recording is named after
        for _ in range(50):
            links = [e.data for e in await services.store.events(case.id) if e.action == "call_link"]
            if links:
                break
            await asyncio.sleep(0.1)
        assert links == [{"linkedid": "1764294123.12"}]
    finally:
        await peer.stop()


async def test_hanging_up_while_recording_keeps_the_recording_and_the_case(voice, services, speech_service):
    peer, channel, call, s = await voicemail_call(voice, speech_service, hang_up_while_recording=True)
    try:
        await call.hang_up()
        end = time.monotonic() + 30
        while not s.info.record.get("voicemail_cases") and time.monotonic() < end:
            await asyncio.sleep(0.1)
        case = await services.store.get(s.info.record["voicemail_cases"][0])
        [att] = await services.store.attachments(case.id)
        assert att.kind == "recording" and att.size > 8000 * 2
    finally:
        await peer.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_gateway_turns_voice_on_with_models_and_runs_without_them(engine, services, caplog):
    """hotline/server.py's hook: on when the models load, off with one clear line when not."""
    import dataclasses
    import logging

    from channels.voice.run import start_voice_channel

    caplog.set_level(logging.INFO, logger="hotline.voice")
    services.settings = dataclasses.replace(services.settings, vosk_model="/nonexistent/vosk-model-small-cn-0.22",
                                            voice_host="127.0.0.1")
    assert await start_voice_channel(services) is None
    assert any("voice off" in r.getMessage() and "does not exist" in r.getMessage() for r in caplog.records)
    agi, audio = free_port(), free_port()
    services.settings = dataclasses.replace(services.settings, vosk_model="", agi_port=agi, audiosocket_port=audio)
    voice = await start_voice_channel(services)
    try:
        assert voice is not None and services.voice is voice
        got = await agi_request("127.0.0.1", agi, "hotline")
        call = await AudioSocketCaller("127.0.0.1", audio, call_uuid=got["variables"]["HOTLINE_UUID"]).connect()
        await call.wait_voiced_after(0, 60)
        await call.hang_up()
    finally:
        await voice.close()


def test_the_quiet_at_the_end_of_a_turn_is_not_decoded_but_a_pause_inside_it_is():
    from types import SimpleNamespace

    from channels.voice.hearing import Hearing
    from speech.vad import VadSettings

    fed, pauses = [], []
    call = Hearing(VadSettings(), 8000, SimpleNamespace(feed=fed.append, pause=lambda: pauses.append(len(fed))),
                   decoded_quiet_ms=VoiceSettings().decoded_quiet_ms)
    voiced, quiet = (b"\x00\x20" * 160), bytes(320)

    def frames(pcm: bytes, n: int):
        for _ in range(n):
            event = call.vad.feed(pcm)
            if call.vad.in_speech and event != "start":
                call.feed_recognizer(pcm)
            if event == "end":
                call.held_quiet.clear()
            yield event

    list(frames(voiced, 50))  # one second of speech
    list(frames(quiet, 20))   # a 400 ms pause inside the sentence...
    list(frames(voiced, 25))  # ...and the sentence goes on: the whole pause reaches the recognizer
    assert sum(len(f) for f in fed) == (50 - 8 + 20 + 25) * 320  # (the first 160 ms go with the preroll)
    assert pauses == [42 + 10]  # the recognizer closed its segment where the pause passed 200 ms
    fed.clear()
    assert "end" in list(frames(quiet, 40))  # the turn ends after 550 ms of quiet
    assert sum(len(f) for f in fed) == 10 * 320  # of which only the first 200 ms were decoded
    assert pauses == [52, 10]  # ...and then the segment was closed: its text is ready at the end


async def test_the_bot_asks_the_queue_whether_anyone_is_free_before_an_intake_is_handed_off(voice):
    """The phone's check behind "转人工" mid-intake (bot/actions/conversation.py): nobody free, the
    intake goes on; the answer comes from Asterisk's QueueStatus."""
    busy = await AmiPeer(members=[{"Name": "PJSIP/1024", "Status": "2", "Paused": "0", "InCall": "1"}]).start()
    free = await AmiPeer(members=[{"Name": "PJSIP/1025", "Status": "1", "Paused": "0", "InCall": "0"}]).start()
    try:
        channel = await voice(f"ami://hotline:s3cret@127.0.0.1:{busy.port}")
        assert await channel.ami.wait_ready(5)
        runtime = channel.engine.runtime
        assert await runtime.agents_free("voice") is False
        await channel.close()
        assert await runtime.agents_free("voice") is None  # a closed channel tells nothing
        channel = await voice(f"ami://hotline:s3cret@127.0.0.1:{free.port}")
        assert await channel.ami.wait_ready(5)
        assert await runtime.agents_free("voice") is True
    finally:
        await busy.stop()
        await free.stop()
