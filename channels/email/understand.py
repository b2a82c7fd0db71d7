"""What a mail asks for, read by the same bot that reads chat and speech.

The engine's NLU (`Engine.parse`) gives the intent and entities of the mail's opening (subject and
first lines: where a citizen says what they want); the kind of case comes from the intent through
`bot.classify.INTENT_KINDS`, the category from the whole text through the category classifier.
When the gateway runs without the bot (`bot_enabled = false`), the kind falls back to the words
that name it ("投诉", "举报" …), so mail is still filed, just less precisely.

The NLU is CPU work; the engine runs it in batches on a thread of its own (`bot/nlu_batch.py`),
so the mails the workers take at once are understood together while the event loop fetches,
writes and sends mail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.classify import INTENT_KINDS, CategoryClassifier
from cases.credentials import is_valid_case_number
from cases.workflow import Kind

OPENING_CHARS = 300
_KIND_WORDS = [(re.compile(p), kind) for p, kind in (
    (r"举报|舉報", Kind.REPORT), (r"投诉|投訴", Kind.COMPLAINT), (r"市长信箱|致市长|给市长|市長", Kind.MAYOR_MAILBOX),
    (r"建议|建議|提议", Kind.SUGGESTION), (r"求助|帮帮|救助", Kind.HELP), (r"表扬|感谢|表揚|感謝|锦旗", Kind.PRAISE),
    (r"咨询|請問|请问|想问|如何办理|怎么办理", Kind.CONSULTATION),
)]
_STATUS_WORDS = re.compile(r"(办理|處理|处理|进展|进度|結果|结果).{0,6}(怎么样|如何|怎樣|了吗|到哪|情况|查询)|"
                           r"(查询|查一下|查查).{0,8}(受理单|工单|进度|办理)|办得怎么样|有没有结果")
_CASE_NUMBER = re.compile(r"(?<!\d)(\d{13})(?!\d)")
_PASSWORD = re.compile(r"(密码|密碼|password)\s*[:：是为]?\s*(\d{6})(?!\d)", re.IGNORECASE)
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")


@dataclass
class Understood:
    kind: str
    category: str | None = None
    category_confidence: float | None = None  # the classifier's, kept on the case as the chat's is
    intent: str = ""
    phone: str = ""
    name: str = ""
    location: str = ""
    case_numbers: list[str] = field(default_factory=list)
    password: str = ""
    asks_status: bool = False


def _entity(parsed: dict, name: str) -> str:
    for ent in parsed.get("entities") or []:
        if ent.get("entity") == name and ent.get("value"):
            return str(ent["value"])
    return ""


def kind_from_words(text: str) -> str | None:
    for pattern, kind in _KIND_WORDS:
        if pattern.search(text):
            return kind.value
    return None


async def understand(subject: str, body: str, engine, categories: CategoryClassifier) -> Understood:
    opening = f"{subject}\n{body}".strip()[:OPENING_CHARS]
    text = f"{subject}\n{body}"
    parsed: dict = {}
    if engine is not None:
        parsed = await engine.parse(opening)
    intent = (parsed.get("intent") or {}).get("name") or ""
    kind = INTENT_KINDS.get(intent) or kind_from_words(opening) or Kind.COMPLAINT.value
    guess = await categories.guess(text[:2000])
    numbers = [n for n in _CASE_NUMBER.findall(text) if is_valid_case_number(n)]
    entity_number = _entity(parsed, "case_number")
    if entity_number and is_valid_case_number(entity_number) and entity_number not in numbers:
        numbers.insert(0, entity_number)
    password = (_PASSWORD.search(text) or [None, None, ""])[2] or ""
    phone = _entity(parsed, "phone") or (_MOBILE.search(text) or [""])[0]
    # a number with its password is only ever given to look the case up
    asks = intent == "check_status" or bool(_STATUS_WORDS.search(opening)) or bool(numbers and password)
    return Understood(kind=kind, category=guess.code if guess else None,
                      category_confidence=guess.confidence if guess else None, intent=intent, phone=phone,
                      name=_entity(parsed, "person_name"), location=_entity(parsed, "location"),
                      case_numbers=numbers, password=password, asks_status=asks)
