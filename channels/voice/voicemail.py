"""A voicemail (busy agents) becomes a case: filed at once with its WAV, so the caller hears the case
number and password right after `#`; the transcript follows in the background and is written into
the case's description (and its history) when ready. Silence is no message and files nothing.

One stage of a call (session.py): `take` records while the call's hearing stage fills
`call.voicemail` (and counts its voiced milliseconds), then files and reads out the case."""
from __future__ import annotations

import asyncio
import logging
import time

from cases.models import Case, CaseEvent
from hotline.logs import log_fields
from speech.audio import wav_bytes

from . import keypad, survey
from .calls import NEXT_HANGUP, CallEnded

log = logging.getLogger("hotline.voice")

TRANSCRIPT_PENDING = "转写：（正在转写）"
BUSY = "现在坐席都在忙。请在提示音后留言，说明您的问题和联系方式，说完请按井号键。"
SAVED = "您的留言已登记。受理编号：{number}，查询密码：{password}。需要再听一遍请按星号键。"
EMPTY = "没有录到您的留言。"
MIN_SPEECH_MS = 300  # less voiced audio than this is no message (silence, a breath, line noise)


async def take(call) -> None:
    """Record after the tone until # (or quiet, or the time limit); the case is filed at once."""
    await call.say(BUSY)
    await _beep(call)
    call.voicemail = bytearray()
    call.voicemail_voiced_ms = 0
    call.vad.reset()
    call.drop_pending_input()  # keys pressed over the busy prompt are not the end of the message
    deadline = time.monotonic() + call.s.voicemail_max_s
    heard = False
    ended = False
    try:
        while time.monotonic() < deadline:
            wait = call.s.voicemail_end_silence_ms / 1000 if heard else 10.0
            got = await call.next_input(min(wait, max(0.1, deadline - time.monotonic())))
            if got is None:
                break
            if got[0] == "keys" and got[1] == "#":
                break
            heard = heard or got[0] == "quiet"  # the end of a stretch of speech
    except CallEnded:
        ended = True  # hung up while recording: what was said is still filed
    # (cancelled by a stopping gateway, the recording stays in call.voicemail: the call's finish files it)
    audio, call.voicemail = bytes(call.voicemail or b""), None
    case = await file_recorded(call, audio)
    if ended:
        raise CallEnded()
    if case is None:  # nothing said: no case, and the caller is told so
        await call.say(EMPTY + survey.GOODBYE)
        await call.hang_up(NEXT_HANGUP)
    number, password = case
    text = SAVED.format(number=number, password=password)
    call.key_map = {}
    await call.say(text)
    got = await call.next_input(4.0)
    if got and got[1] == keypad.REPEAT:
        await call.say(text.split("需要")[0])
    await survey.run(call)


async def _beep(call) -> None:
    import numpy as np

    t = np.arange(int(call.rate * 0.3)) / call.rate
    tone = (np.sin(2 * np.pi * 1000 * t) * 8000).astype("<i2").tobytes()
    call.player.enqueue(tone)
    await call.player.drained.wait()


async def file_recorded(call, audio: bytes) -> tuple[str, str] | None:
    """The recording becomes a case (a caller who hangs up while recording still leaves one), its
    transcript follows in the background. No voiced audio: no case."""
    if call.store is None or call.voicemail_voiced_ms < MIN_SPEECH_MS:
        log.info("voicemail without speech: no case", extra=log_fields(
            call=call.info.uuid, voiced_ms=call.voicemail_voiced_ms, audio_ms=len(audio) * 500 // call.rate))
        return None
    case, password = await file_case(call.store, call.info, audio, call.rate)
    call.transcribing = asyncio.ensure_future(
        add_transcript(call.store, call.speech, call.info, case.number, audio, call.rate))
    call.info.record.setdefault("voicemail_cases", []).append(case.number)
    runtime = getattr(call.engine, "runtime", None)
    if runtime is not None:  # the survey's answer goes to the conversation's cases
        await runtime.conversations.add_case(call.info.sender_id, "voice", case.number)
    log.info("voicemail filed", extra=log_fields(call=call.info.uuid, case=case.number))
    return case.number, password


def description(seconds: int, transcript: str | None) -> str:
    head = f"电话留言（坐席忙，录音见附件，{seconds}秒）。"
    if transcript is None:
        return head + TRANSCRIPT_PENDING
    return head + f"转写：{transcript or '（未能转写，请听录音）'}"


async def file_case(store, info, audio: bytes, rate: int) -> tuple[Case, str]:
    from cases.intake import is_phone, normalize_phone, validate_case
    from cases.workflow import Channel

    caller = normalize_phone(info.caller)
    data = {"kind": "consultation", "title": "电话留言", "description": description(len(audio) // (2 * rate), None),
            "contact_phone": caller if is_phone(caller) else "", "wants_reply": is_phone(caller)}
    inp = validate_case(data, channel=Channel.PHONE_SELF)
    inp.conversation_id = info.sender_id
    case, password = await store.create_case(inp)
    await store.add_attachment(case.id, kind="recording", filename=f"voicemail-{info.uuid}.wav",
                               content_type="audio/wav", data=wav_bytes(audio, rate), channel="voice")
    return case, password


async def add_transcript(store, speech, info, case_number: str, audio: bytes, rate: int) -> str:
    """Recognize the message and put the text into the case (a `transcribed` event keeps the change)."""
    text = ""
    try:
        stream = speech.call_recognizer(rate, background=True)  # nobody waits on the line for it
        stream.feed(audio)
        text = await stream.finish()
    except Exception as exc:
        log.warning("voicemail not transcribed", extra=log_fields(call=info.uuid, error=str(exc)))
    async with store.db.write() as s:
        from sqlalchemy import select

        case = (await s.execute(select(Case).where(Case.number == case_number))).scalar_one()
        if TRANSCRIPT_PENDING in case.description:  # an agent may have rewritten it meanwhile
            case.description = case.description.replace(TRANSCRIPT_PENDING, description(0, text).split("。", 1)[1])
        s.add(CaseEvent(case_id=case.id, actor="system", channel="voice", action="transcribed",
                        from_status=case.status, to_status=case.status, public=False,
                        data={"transcript": text}))
    return text
