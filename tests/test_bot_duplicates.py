"""A chat intake about a matter the citizen already reported: told the existing number at the
read-back, the new words go onto that case, or a case of its own when it is another matter."""
import re

import pytest

from bot_support import answer_form, new_sender, say
from test_bot_conversations import CITIZEN, all_cases, file_complaint

pytestmark = pytest.mark.bot

AGAIN = dict(CITIZEN, case_description="还是那个工地，晚上十一点还在打桩，吵得没法睡", case_location="幸福小区东门口")


async def told_of_the_first(engine, sender, channel="rest", **meta):
    first = await say(engine, sender, "我要投诉", channel, **meta)
    result, _ = await answer_form(engine, sender, AGAIN, first, channel, **meta)
    return result


async def test_chat_intake_is_told_the_existing_number_and_adds_to_it(engine, services):
    done, _ = await file_complaint(engine, new_sender())
    number = re.search(r"受理编号：(\d{13})", done.text).group(1)
    sender = new_sender()
    offer = await told_of_the_first(engine, sender)
    assert number in offer.text and "反映过类似的问题" in offer.text
    assert "小区旁边的工地" not in offer.text.split("核对")[-1].split("反映过")[-1]  # not the old case's words
    buttons = [b["title"] for r in offer.replies for b in r.buttons]
    assert buttons == ["补充到原工单", "单独登记", "修改"]
    added = await say(engine, sender, "确认")
    assert number in added.text and "补充" in added.text and "查询密码：" not in added.text
    [case] = await all_cases(services)
    [event] = [e for e in await services.store.events(case.id) if e.action == "supplement"]
    assert "打桩" in event.comment and event.data == {"intake": "webchat", "conversation": sender}
    assert any((r.custom or {}).get("case", {}).get("number") == number for r in added.replies)


async def test_another_matter_gets_a_case_of_its_own(engine, services):
    done, _ = await file_complaint(engine, new_sender())
    number = re.search(r"受理编号：(\d{13})", done.text).group(1)
    sender = new_sender()
    await told_of_the_first(engine, sender)
    filed = await say(engine, sender, '/correct{"correct_field": "separate_case"}')
    second = re.search(r"受理编号：(\d{13})", filed.text).group(1)
    assert second != number and "查询密码：" in filed.text
    assert sorted(c.number for c in await all_cases(services)) == sorted([number, second])
    [first] = [c for c in await all_cases(services) if c.number == number]
    assert [e.action for e in await services.store.events(first.id)] == ["register"]


async def test_the_offer_in_english_and_on_the_phone(engine, services):
    await file_complaint(engine, new_sender())
    english = await told_of_the_first(engine, new_sender(), locale="en")
    assert "case number" in english.text and [b["title"] for r in english.replies for b in r.buttons][0] == \
        "Add to that case"
    call = new_sender("call")
    voice = await told_of_the_first(engine, call, "voice", caller_number="13812345678")
    assert "反映过类似的问题" in voice.text
