"""Small helpers every action uses: the channel, metadata, digit-by-digit reading, slot resets."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet

VOICE = "voice"


def channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "rest"


def metadata(tracker: Tracker) -> dict[str, Any]:
    """The channel's metadata of the conversation (caller number, email address, locale)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and event.get("metadata"):
            return event["metadata"]
    return {}


def is_voice(tracker: Tracker) -> bool:
    return channel(tracker) == VOICE


def spell_digits(number: str, voice: bool) -> str:
    """On the phone, digits are read one by one in groups (幺 for 1, as operators say it);
    in text they stay as they are."""
    if not voice:
        return number
    names = dict(zip("0123456789", "零幺二三四五六七八九"))
    groups = [number[i:i + 4] for i in range(0, len(number), 4)]
    return "，".join("".join(names.get(ch, ch) for ch in g) for g in groups)


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.startswith("/") else text.strip()


def latest_intent(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def entity(tracker: Tracker, name: str) -> str | None:
    values = [e.get("value") for e in (tracker.latest_message or {}).get("entities", []) if e.get("entity") == name]
    return str(values[0]) if values and values[0] not in (None, "") else None


CASE_SLOTS = ("case_kind", "case_category", "case_category_confidence", "case_description", "case_location", "case_happened",
              "contact_phone", "contact_name", "wants_reply")


def reset(*names: str) -> list[SlotSet]:
    return [SlotSet(n, None) for n in names]


# intents that interrupt a form rather than answer its question, when the NLU is sure of them
INTERRUPTIONS = {"request_human", "bot_challenge", "repeat", "check_status", "take_poll", "menu"}


def is_interruption(tracker: Tracker) -> bool:
    """Is the latest message a request of its own (转人工, 再说一遍) rather than an answer?

    Free-text answers (a place, a time, a name) are often misread as some intent, so only a short
    message classified with confidence counts as an interruption; a longer one ("我上次反映的那个
    问题现在处理得怎么样了") only when the NLU is sure and the form is not asking for the problem
    itself, where a long message is the answer."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    text = (tracker.latest_message or {}).get("text") or ""
    if intent.get("name") not in INTERRUPTIONS:
        return False
    if text.startswith("/"):
        return True
    confidence = float(intent.get("confidence") or 0)
    if len(text) <= 12:
        return confidence >= 0.7
    return confidence >= 0.9 and len(text) <= 30 and tracker.get_slot("requested_slot") != "case_description"


# ---- a form interrupted by another task, and resumed after it --------------------------------
def pause_form(tracker: Tracker) -> list:
    """Leave the active form for a task of its own (a status look-up, a hand-off), keeping what it
    has gathered and remembering it, so that `resume_form` asks its pending question after."""
    name = (tracker.active_loop or {}).get("name")
    return [SlotSet("paused_form", name), SlotSet("requested_slot", None), ActiveLoop(None)] if name else []


def resume_form(dispatcher, tracker: Tracker) -> list:
    """After the task that interrupted a form: back to it ("我们接着刚才的登记"), whose next
    question follows in the same turn; nothing when no form waits."""
    name = tracker.get_slot("paused_form")
    if not name:
        return []
    dispatcher.utter_message(response="utter_back_to_form")
    return [SlotSet("paused_form", None), FollowupAction(name)]


# a question in the citizen's words: a question mark, a final 吗/呢, or a question word
_QUESTION = re.compile(r"[?？]|[吗么][。！!，,～~]*$|怎么|怎样|咋|如何|哪里|哪儿|哪个|哪些|什么|多少|多久|多长时间|几[天点个号岁次年]|"
                       r"是否|能不能|能否|可不可以|可以不|有没有|要不要|需不需要|用不用|是不是|会不会|为什么|为啥")
# intents that are a digression of their own while a form asks for something: answered, then the
# form asks again (rules in bot/data/rules.yml)
DIGRESSIONS = {"ask_policy", "out_of_scope"}
# small talk mid-form ("谢谢", "你好"): answered in a word, then the form asks again
CHIT_CHAT = {"greet", "thank"}


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def digression(tracker: Tracker) -> str | None:
    """The intent of a message that is not an answer to the form's question but a question or a
    change of topic ("夜间施工要办许可吗", "帮我放首歌"), or None.

    An answer is often misread as some intent ("人民公园那边" as out_of_scope), so only a
    confident intent counts, and a policy question only when it is worded as a question. The
    description is free text where a question may be the problem itself ("为什么路灯一直不亮"):
    there the caller (the form) also asks the knowledge base."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    name, confidence = intent.get("name"), float(intent.get("confidence") or 0)
    text = latest_text(tracker)
    if name in CHIT_CHAT and text and confidence >= 0.8 and len(_bare(text)) <= 8:
        return name
    if name not in DIGRESSIONS or not text or mostly_digits(text):
        return None
    if name == "ask_policy" and confidence >= 0.6 and is_question(text):
        return name
    if name == "out_of_scope" and confidence >= 0.7 and (
            is_question(text) or tracker.get_slot("requested_slot") != "case_description"):
        return name
    return None


def mostly_digits(text: str) -> bool:
    """A message that is a number (phone, case number) is not a place, a time or a name."""
    compact = "".join(text.split())
    return bool(compact) and sum(ch.isdigit() for ch in compact) >= len(compact) * 0.6


# a citizen taking back what they started: "取消", "算了，不登记了", "我不是要提建议", "我说了不登记！"
_STOP = re.compile(r"^(请|帮我)?(取消|撤销|撤回)|(取消|撤销|撤回)(登记|提交)?(吧|了|掉)?$|^算了|我说了不|别(再)?(登记|记|提交|问)|不(是|是要|想|要|用|必|需要)?(再)?(登记|提交|办|弄|记|报|查询?|"
                   r"投诉|举报|反映|提?建议|求助|留言|写信|表扬)(了|啦|吧)?$|(不是|没说|没想)要?(登记|投诉|举报|提?建议|求助|"
                   r"留言|表扬|写信|反映)")

_POLITE = re.compile(r"^(那|那就|好的?|嗯|哦|唉|呃|行)+|(谢谢你?|谢了|多谢|好吗|行吗)+$")


def _bare(text: str) -> str:
    return re.sub(r"[\s，。！？!?,.~～…]+", "", text)


def wants_to_stop(tracker: Tracker) -> bool:
    """Is the latest message a short "stop, don't file this" (in any wording), not an answer?"""
    text = _POLITE.sub("", _bare(latest_text(tracker)))  # "那算了" "不办了，谢谢" are the same as "算了" "不办了"
    return bool(text) and len(text) <= 14 and bool(_STOP.search(text))


def says_goodbye(tracker: Tracker) -> bool:
    """A short, confident closing ("好的谢谢，再见") mid-form: the citizen is leaving."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    text = _bare(latest_text(tracker))
    return intent.get("name") == "goodbye" and float(intent.get("confidence") or 0) >= 0.8 and 0 < len(text) <= 10


def previous_action(tracker: Tracker) -> str:
    """The bot's last action before the citizen's latest message (action_listen aside)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name") or ""
    return ""
