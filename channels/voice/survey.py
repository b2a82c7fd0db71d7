"""The satisfaction survey at the end of a call (after an agent, or after a voicemail): 满意请按1，
一般请按2，不满意请按3, or said; the answer is kept with the call record and given to the bot, which
stores it with the conversation's cases. One stage of a call (session.py): it uses the call's
`say`, `next_input` and `hang_up`."""
from __future__ import annotations

from .calls import NEXT_HANGUP

PROMPT = "请您对本次服务进行评价：满意请按1，一般请按2，不满意请按3。"
KEYS = {"1", "2", "3"}
GOODBYE = "感谢您的来电，再见！"


async def run(call) -> None:
    """Ask twice at most; the call ends here either way."""
    call.key_map = {k: k for k in KEYS}
    for _attempt in range(2):
        await call.say(PROMPT, wait=False)
        got = await call.next_input(call.s.no_input_s)
        if got is None:
            continue
        answer = got[1] if got[1] in KEYS else spoken_rating(got[1])
        if answer:
            call.info.record["satisfaction"] = int(answer)
            if call.engine is not None:
                try:
                    await call.engine.resume(call.info.sender_id)
                except Exception:  # a conversation that was never paused
                    pass
                result = await call.ask_bot(f'/rate{{"satisfaction": "{answer}"}}', "survey")
                await call.speak_result(result)
                await call.next_input_done()
            break
    else:
        await call.say(GOODBYE)
    await call.hang_up(NEXT_HANGUP)


def spoken_rating(text: str) -> str | None:
    """The key a spoken answer means ("不满意" before "满意": it contains it)."""
    text = text or ""
    for word, value in (("不满意", "3"), ("一般", "2"), ("满意", "1")):
        if word in text:
            return value
    return None
