"""A chat or call intake about a matter already reported. Whoever proves the open case is theirs
(this conversation filed it or looked it up with its password; on the phone, the caller ID is its
phone) is told its number at the read-back and may add to it, or file apart. Anyone else who merely
types that citizen's phone number and place learns nothing: their intake is filed as any other and
flagged beside that case for an agent."""
import json
import re

import pytest

from bot_support import answer_form, new_sender, say
from test_bot_conversations import CITIZEN, all_cases, file_complaint

pytestmark = pytest.mark.bot

AGAIN = dict(CITIZEN, case_description="还是那个工地，晚上十一点还在打桩，吵得没法睡", case_location="幸福小区东门口")
OFFER = ["补充到原工单", "单独登记", "修改"]


async def filed(engine, sender=None, channel="rest", **meta) -> tuple[str, str, str]:
    """A citizen's complaint filed in a conversation of its own: (conversation, number, password)."""
    sender = sender or new_sender()
    done, _ = await file_complaint(engine, sender, channel=channel, **meta)
    return (sender, re.search(r"受理编号：(\d{13})", done.text).group(1),
            re.search(r"查询密码：(\d{6})", done.text).group(1))


async def told_of_the_first(engine, sender, channel="rest", **meta):
    first = await say(engine, sender, "我要投诉", channel, **meta)
    result, _ = await answer_form(engine, sender, AGAIN, first, channel, **meta)
    return result


def buttons(result) -> list[str]:
    return [b["title"] for r in result.replies for b in r.buttons]


async def everything_said(engine, sender) -> str:
    """What the conversation showed the citizen, buttons included."""
    return json.dumps(await engine.transcript(sender), ensure_ascii=False)


@pytest.mark.parametrize("channel", ["rest", "webchat"])
async def test_whoever_types_a_citizens_phone_and_place_learns_nothing_of_their_case(engine, services, channel):
    _, number, _ = await filed(engine)
    victim = await services.store.get(number)
    stranger = new_sender()
    read_back = await told_of_the_first(engine, stranger, channel)
    assert "核对" in read_back.text and "反映过" not in read_back.text
    assert "修改分类" in buttons(read_back) and "补充到原工单" not in buttons(read_back)  # the usual confirmation
    done = await say(engine, stranger, "确认", channel)
    second = re.search(r"受理编号：(\d{13})", done.text).group(1)
    assert second != number and "查询密码：" in done.text  # filed as any other case
    status = await say(engine, stranger, "查一下进度", channel)  # "my case": theirs, never the other
    assert second in status.text
    assert number not in await everything_said(engine, stranger)
    # the other case took nothing and shows nothing; both are flagged for an agent to merge
    assert [e.action for e in await services.store.events(victim.id, public_only=True)] == ["register"]
    [reported] = [e for e in await services.store.events(victim.id) if e.action == "duplicate_reported"]
    assert reported.data == {"case": second} and not reported.public
    mine = await services.store.get(second)
    [suspected] = [e for e in await services.store.events(mine.id) if e.action == "duplicate_suspected"]
    assert suspected.data == {"case": number} and not suspected.public
    assert (await services.store.get(number)).description == victim.description


async def test_a_citizen_who_looked_the_case_up_with_its_password_adds_to_it(engine, services):
    _, number, password = await filed(engine)
    sender = new_sender()
    await say(engine, sender, "查询进度")
    await say(engine, sender, number)
    shown = await say(engine, sender, password)
    assert number in shown.text
    offer = await told_of_the_first(engine, sender)
    assert number in offer.text and "反映过类似的问题" in offer.text and buttons(offer) == OFFER
    assert "小区旁边的工地" not in offer.text.split("核对")[-1].split("反映过")[-1]  # not the old case's words
    added = await say(engine, sender, "确认")
    assert number in added.text and "补充" in added.text and "查询密码：" not in added.text
    [case] = await all_cases(services)
    [event] = [e for e in await services.store.events(case.id) if e.action == "supplement"]
    assert "打桩" in event.comment and event.data == {"intake": "webchat", "conversation": sender}
    assert any((r.custom or {}).get("case", {}).get("number") == number for r in added.replies)


async def test_another_matter_gets_a_case_of_its_own(engine, services):
    sender, number, _ = await filed(engine)  # the conversation that filed it: told of it
    offer = await told_of_the_first(engine, sender)
    assert buttons(offer) == OFFER
    filed_apart = await say(engine, sender, '/correct{"correct_field": "separate_case"}')
    second = re.search(r"受理编号：(\d{13})", filed_apart.text).group(1)
    assert second != number and "查询密码：" in filed_apart.text
    assert sorted(c.number for c in await all_cases(services)) == sorted([number, second])
    [first] = [c for c in await all_cases(services) if c.number == number]
    assert [e.action for e in await services.store.events(first.id)] == ["register"]  # the citizen chose: no flag


async def test_the_offer_in_english_and_on_the_phone_by_caller_id_only(engine, services):
    sender, _, _ = await filed(engine)
    english = await told_of_the_first(engine, sender, locale="en")
    assert "case number" in english.text and buttons(english)[0] == "Add to that case"
    # the phone: a caller whose caller ID is the case's phone is told of it (keys read out)...
    voice = await told_of_the_first(engine, new_sender("call"), "voice", caller_number="13812345678")
    assert "反映过类似的问题" in voice.text
    # ...one calling from another phone who keys in that number is not
    other = await told_of_the_first(engine, new_sender("call"), "voice", caller_number="13900001111")
    assert "反映过" not in other.text and "核对" in other.text
