"""What a call leaves behind once its audio is over (the last stage of a CallSession): its
recording attached to the cases filed in it, those cases linked to the Asterisk call id, and the
call's line in the call records (data_dir/calls/<day>.jsonl)."""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from cases.models import CaseEvent
from hotline.logs import log_fields

from .calls import PHASE_SURVEY
from .recordings import LINKEDID

log = logging.getLogger("hotline.voice")


async def wrap_up(call) -> None:
    await attach_recording(call)
    await link_call(call)
    write_call_record(call)


async def cases_of_call(call) -> list:
    """The cases filed in this call (the bot's and the voicemail), not those only looked up."""
    numbers = list(call.info.record.get("voicemail_cases", []))
    runtime = getattr(call.engine, "runtime", None)
    if runtime is not None:
        conv = await runtime.conversations.get(call.info.sender_id)
        numbers += [n for n in (conv.case_numbers if conv else []) or [] if n not in numbers]
    cases = [await call.store.get(n) for n in numbers]
    return [c for c in cases if c.conversation_id == call.info.sender_id]


async def attach_recording(call) -> None:
    """The caller's side of the call goes with every case the bot filed in it."""
    if call.recorder is None or call.store is None or not call.recorder.bytes_written:
        return
    try:
        voicemails = call.info.record.get("voicemail_cases", [])
        cases = [c for c in await cases_of_call(call) if c.number not in voicemails]
        data = Path(call.recording_path).read_bytes() if cases else b""
        for case in cases:
            await call.store.add_attachment(case.id, kind="recording", filename=f"call-{call.info.uuid}.wav",
                                            content_type="audio/wav", data=data, channel="voice")
        call.info.record["cases"] = [c.number for c in cases]
    except Exception:
        log.exception("call recording not attached", extra=log_fields(call=call.info.uuid))


async def link_call(call) -> None:
    """The cases filed in the call name its Asterisk id (the linkedid the dialplan passes, which
    a call through a Local channel needs; else agi_uniqueid), so the desk finds the MixMonitor
    recording of the part with an agent (deploy/asterisk: [hotline-record], recordings.py).
    Once per call: not again from the survey after the agents."""
    if call.store is None or call.info.phase == PHASE_SURVEY or not LINKEDID.match(call.info.uniqueid or ""):
        return
    try:
        cases = await cases_of_call(call)
        if not cases:
            return
        async with call.store.db.write() as s:
            for case in cases:
                s.add(CaseEvent(case_id=case.id, actor="system", channel="voice", action="call_link",
                                from_status=case.status, to_status=case.status, public=False,
                                data={"linkedid": call.info.uniqueid}))
    except Exception:
        log.exception("call not linked to its cases", extra=log_fields(call=call.info.uuid))


def write_call_record(call) -> None:
    if call.data_dir is None:
        return
    record = {"uuid": call.info.uuid, "caller": call.info.caller, "direction": call.info.direction,
              "purpose": call.info.purpose, "announced": call.info.announced,
              "started": call.started.isoformat(), "ended": dt.datetime.now(dt.timezone.utc).isoformat(),
              "menu_path": call.menu_path, "turns": call.turns, "next": call.info.next,
              "reply_stages_ms": [t.stages_ms() for t in call.timings],
              "end_reason": call.end_reason, **call.info.record}
    folder = call.data_dir / "calls"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{call.started.strftime('%Y-%m-%d')}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
