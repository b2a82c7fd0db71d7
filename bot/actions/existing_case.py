"""The citizen's open case about the same matter, found at the read-back of a new one.

Found by the phone or email given (cases/similar.py); but a phone number typed in a chat or keyed
on the phone, or an address in the REST channel's metadata, proves nothing: whoever knows a
neighbour's number and street would learn that they complained, when, and the case's number and
state, and could add words to it. So the citizen is told of the case, and may add to it, only when
it is theirs:
  - this conversation filed it or looked it up with its password (`last_case_number`), or
  - on the phone, the caller's number (the carrier's caller ID: the phone channel's own identity)
    is the case's contact phone, as for the status look-up without password (status.py).
Then they choose: add this to it (补充到原工单: the new words become a supplement of that case,
nothing is filed twice) or file it apart (另一件事: a new case); only the number, date, kind,
category and state are told, never what that case says. Otherwise the intake is filed as any other
and both cases are flagged for an agent to merge (case_links.flag_suspected); the citizen hears
exactly what they would hear if there were no such case.
"""
from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker

from cases import case_links
from cases.intake import CaseInput, normalize_phone
from cases.models import Case
from cases.similar import Probe
from cases.store import CaseStore
from cases.workflow import KIND_LABELS, STATUS_LABELS, label

from .common import is_voice, metadata, spell_digits


@dataclass(frozen=True)
class Proof:
    """What this conversation proved of the cases it may be told of."""
    caller: str = ""         # the caller ID on the phone, "" elsewhere
    proven: str | None = None  # the case it filed, or looked up with the password

    @classmethod
    def of(cls, tracker: Tracker) -> "Proof":
        caller = normalize_phone(metadata(tracker).get("caller_number") or "") if is_voice(tracker) else ""
        return cls(caller, tracker.get_slot("last_case_number"))

    def owns(self, case: Case) -> bool:
        return case.number == self.proven or bool(self.caller) and case.contact_phone == self.caller


@dataclass(frozen=True)
class Duplicate:
    case: Case
    owned: bool  # proven the citizen's: told of it, and the intake may go onto it


async def find_duplicate(store: CaseStore, inp: CaseInput, proof: Proof) -> Duplicate | None:
    """The likely duplicate this conversation proved is the citizen's, else the best one unproven."""
    matches = await store.similar.likely_duplicates(Probe.of_input(inp))
    owned = next((m for m in matches if proof.owns(m.case)), None)
    if owned is not None:
        return Duplicate(owned.case, True)
    return Duplicate(matches[0].case, False) if matches else None


def describe(case: Case, tz, voice: bool, locale: str | None) -> str:
    """The existing case in a sentence: when, what kind, its number and state."""
    en = locale == "en"
    when = case.created_at.astimezone(tz)
    kind = label(KIND_LABELS, case.kind, "en" if en else "zh")
    status = label(STATUS_LABELS, case.status, "en" if en else "zh")
    category = ""
    if case.category is not None:
        category = case.category.name_en if en and case.category.name_en else case.category.name
    if en:
        return (f"You reported a similar matter on {when:%d %B} ({kind}{', ' + category if category else ''}, "
                f"case number {case.number}, {status.lower()}).")
    return (f"您在{when.month}月{when.day}日反映过类似的问题（{kind}{'，' + category if category else ''}，"
            f"受理编号 {spell_digits(case.number, voice)}，{status}）。")


def offer(case: Case, voice: bool, locale: str | None, separate: str) -> tuple[str, list[dict]]:
    """The question after the read-back when a likely duplicate exists, and its buttons (on the
    phone, keys 1-3 in this order: channels/voice/keypad.py)."""
    from bot.runtime import runtime

    tz = runtime().store.calendar.tz
    head = describe(case, tz, voice, locale)
    if locale == "en":
        text = (head + " If this is the same matter, choose \"Add to that case\": what you said now is added to it "
                "and handled together. If it is another matter, choose \"File separately\".")
        titles = ("Add to that case", "File separately", "Change something")
    elif voice:  # the keys are read after it: 补充到原工单请按1，单独登记请按2，修改请按3
        text = head + "如果是同一件事，这次说的内容会补充到原工单一并办理；如果是另一件事，可以单独登记。"
        titles = ("补充到原工单", "单独登记", "修改")
    else:
        text = head + ("如果是同一件事，请选“补充到原工单”，这次的内容会加到原工单里一并办理；"
                       "如果是另一件事，请选“单独登记”；需要修改请选“修改”。")
        titles = ("补充到原工单", "单独登记", "修改")
    payloads = ("/affirm", f'/correct{{"correct_field": "{separate}"}}', "/deny")
    return text, [{"title": t, "payload": p} for t, p in zip(titles, payloads)]


async def add_to_duplicate(store: CaseStore, duplicate: Duplicate | None, inp: CaseInput,
                           conversation_id: str) -> Case | None:
    """Add the intake to the citizen's own likely duplicate (the one offered at the read-back,
    unless it closed meanwhile); None when there is none (file a new case)."""
    if duplicate is None or not duplicate.owned:
        return None
    return await case_links.add_intake_to(store, duplicate.case, inp, conversation=conversation_id)


def added_text(case: Case, voice: bool, locale: str | None) -> str:
    number = spell_digits(case.number, voice)
    if locale == "en":
        return (f"What you said has been added to case {case.number}; it will be handled together with it, "
                "so no second case was filed. You can follow it with that case's number and password.")
    return (f"已将您这次反映的内容补充到受理编号 {number} 的工单，承办部门会一并处理，不再重复登记。"
            "您可以用该工单的编号和原查询密码查询进度。" + ("需要再听一遍请说“重复”。" if voice else ""))
