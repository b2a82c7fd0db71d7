"""The citizen's open case about the same matter, found at the read-back of a new one.

The citizen is told its number and chooses: add this to it (补充到原工单: the new words become a
supplement of that case, nothing is filed twice) or file it apart (另一件事: a new case). Only the
number, date, kind, category and state are told: whoever gives a phone number learns nothing of
what that case says (cases/similar.py finds it by the phone or email given).
"""
from __future__ import annotations

from cases import case_links
from cases.intake import CaseInput
from cases.models import Case
from cases.similar import Match, Probe
from cases.store import CaseStore
from cases.workflow import KIND_LABELS, STATUS_LABELS, label

from .common import spell_digits


async def find_duplicate(store: CaseStore, inp: CaseInput) -> Match | None:
    return await store.similar.likely_duplicate(Probe.of_input(inp))


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


def offer(match: Match, voice: bool, locale: str | None, separate: str) -> tuple[str, list[dict]]:
    """The question after the read-back when a likely duplicate exists, and its buttons (on the
    phone, keys 1-3 in this order: channels/voice/keypad.py)."""
    from bot.runtime import runtime

    tz = runtime().store.calendar.tz
    head = describe(match.case, tz, voice, locale)
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


async def add_to_duplicate(store: CaseStore, inp: CaseInput, conversation_id: str) -> Case | None:
    """Add the intake to the citizen's likely duplicate (looked up again: the one offered at the
    read-back, unless it closed meanwhile); None when there is none (file a new case)."""
    match = await find_duplicate(store, inp)
    if match is None:
        return None
    return await case_links.add_intake_to(store, match.case, inp, conversation=conversation_id)


def added_text(case: Case, voice: bool, locale: str | None) -> str:
    number = spell_digits(case.number, voice)
    if locale == "en":
        return (f"What you said has been added to case {case.number}; it will be handled together with it, "
                "so no second case was filed. You can follow it with that case's number and password.")
    return (f"已将您这次反映的内容补充到受理编号 {number} 的工单，承办部门会一并处理，不再重复登记。"
            "您可以用该工单的编号和原查询密码查询进度。" + ("需要再听一遍请说“重复”。" if voice else ""))
