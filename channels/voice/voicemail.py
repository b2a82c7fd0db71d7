"""A voicemail (busy agents) becomes a case: filed at once with its WAV, so the caller hears the case
number and password right after `#`; the transcript follows in the background and is written into
the case's description (and its history) when ready. Silence is no message and files nothing."""
from __future__ import annotations

import logging

from cases.models import Case, CaseEvent
from hotline.logs import log_fields
from speech.audio import wav_bytes

log = logging.getLogger("hotline.voice")

TRANSCRIPT_PENDING = "转写：（正在转写）"


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
