"""Multi-turn conversations where the citizen turns to something else in the middle of an intake
(issue 18): a status look-up, a question, 转人工 when nobody is free, small talk or an out-of-scope
request is served, and the intake then asks its pending question again (or ends, if the citizen
says so), in the chat, over REST and on the phone. And chat replies carry no phone wording."""
import re

import pytest
import sqlalchemy as sa

from bot_support import answer_form, new_sender, requested_slot, say, slot
from cases.models import Case

pytestmark = pytest.mark.bot

CHANNELS = ["webchat", "rest", "voice"]
CITIZEN = {"case_description": "小区旁边的工地每天半夜还在施工，噪音太大了，吵得睡不着觉",
           "case_location": "幸福小区东门", "case_happened": "每天晚上十点以后",
           "contact_phone": "我的电话是13812345678", "contact_name": "我姓王", "wants_reply": "需要"}
SECOND = "楼下的垃圾桶好几天没人清理了，臭得不行，苍蝇到处飞"
# what only makes sense on the phone: speaking, keys, the hash key, "your call"
PHONE_ONLY = re.compile(r"请说|说出|说“|再说一遍|按键|按[0-9０-９]|井号|来电|听清|再听")


async def cases(services) -> list[Case]:
    async with services.db.read() as s:
        return list((await s.execute(sa.select(Case).order_by(Case.id))).scalars())


async def filed_case(engine) -> tuple[str, str]:
    """A case filed in a conversation of its own: (number, password)."""
    sender = new_sender()
    first = await say(engine, sender, "我要投诉")
    await answer_form(engine, sender, CITIZEN, first)
    done = await say(engine, sender, "确认")
    return (re.search(r"受理编号：(\d{13})", done.text).group(1),
            re.search(r"查询密码：(\d{6})", done.text).group(1))


async def at_location(engine, sender: str, channel: str) -> None:
    """A second complaint, asked for its place."""
    await say(engine, sender, "我要投诉", channel)
    await say(engine, sender, SECOND, channel)
    assert await requested_slot(engine, sender) == "case_location"


async def finish(engine, sender: str, channel: str, result):
    # another citizen than filed_case's: no offer to add to that one's open case
    answers = dict(CITIZEN, contact_phone="我的电话是13912345678")
    result, asked = await answer_form(engine, sender, answers, result, channel)
    assert asked[0] == "case_location", asked
    return await say(engine, sender, "确认", channel)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("ask", ["我上次那个工单怎么样了", "帮我查一下办理进度"])
async def test_a_status_look_up_mid_intake_is_answered_and_the_intake_resumes(engine, services, channel, ask):
    number, password = await filed_case(engine)
    sender = new_sender()
    await at_location(engine, sender, channel)
    result = await say(engine, sender, ask, channel)
    assert "受理编号" in result.text and await requested_slot(engine, sender) == "case_number", result.text
    await say(engine, sender, number, channel)
    result = await say(engine, sender, password, channel)
    assert "已登记" in result.text and "接着" in result.text and "什么地方" in result.text, result.text
    assert await requested_slot(engine, sender) == "case_location"
    assert await slot(engine, sender, "case_location") is None  # nothing of the look-up became the place
    await finish(engine, sender, channel, result)
    first, second = await cases(services)
    assert second.description == SECOND and second.location == CITIZEN["case_location"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_status_look_up_mid_intake_may_be_dropped_and_the_intake_ended_after(engine, services, channel):
    sender = new_sender()
    await at_location(engine, sender, channel)
    await say(engine, sender, "查询办理进度", channel)
    assert await requested_slot(engine, sender) == "case_number"
    result = await say(engine, sender, "算了，不查了", channel)  # no look-up after all: back to the intake
    assert "不查了" in result.text and "什么地方" in result.text, result.text
    assert await requested_slot(engine, sender) == "case_location"
    result = await say(engine, sender, "算了，不登记了", channel)  # and the intake ends as the citizen wants
    assert "取消" in result.text and await requested_slot(engine, sender) is None
    assert await cases(services) == []


@pytest.mark.parametrize("channel", ["webchat", "voice"])
async def test_an_opinion_poll_mid_intake_is_taken_and_the_intake_resumes(engine, services, channel):
    sender = new_sender()
    await at_location(engine, sender, channel)
    result = await say(engine, sender, "/take_poll", channel)
    assert "第1题" in result.text, result.text
    for _ in range(10):
        if "问卷已完成" in result.text:
            break
        result = await say(engine, sender, "1", channel)
    assert "问卷已完成" in result.text and "接着" in result.text and "什么地方" in result.text, result.text
    await finish(engine, sender, channel, result)
    [case] = await cases(services)
    assert case.description == SECOND


async def no_agent() -> bool:
    return False


async def an_agent() -> bool:
    return True


@pytest.mark.parametrize("channel", CHANNELS)
async def test_handoff_mid_intake_with_nobody_free_goes_on_with_the_intake(engine, services, channel):
    engine.runtime.agent_checks[channel] = no_agent  # what the channel reports (the phone: the Asterisk queue)
    try:
        sender = new_sender()
        await at_location(engine, sender, channel)
        result = await say(engine, sender, "转人工", channel)
        assert not result.paused and "handoff" not in result.signals
        assert "忙" in result.text and "接着" in result.text and "什么地方" in result.text, result.text
        assert await requested_slot(engine, sender) == "case_location"
        await finish(engine, sender, channel, result)
        [case] = await cases(services)
        assert case.description == SECOND
    finally:
        engine.runtime.agent_checks.pop(channel, None)


@pytest.mark.parametrize("check", [an_agent, None])
async def test_handoff_mid_intake_goes_ahead_when_someone_may_take_it(engine, services, check):
    if check:
        engine.runtime.agent_checks["webchat"] = check
    try:
        sender = new_sender()
        await at_location(engine, sender, "webchat")
        result = await say(engine, sender, "转人工", "webchat")
        assert result.paused and "handoff" in result.signals
        assert await slot(engine, sender, "paused_form") is None  # the agent decides what follows
    finally:
        engine.runtime.agent_checks.pop("webchat", None)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("said, answer", [("谢谢", "不客气"), ("你好", "接着"),
                                          ("给我讲个笑话吧", "服务范围"), ("办居住证需要带什么材料？", "居住证")])
async def test_small_talk_questions_and_out_of_scope_mid_intake_are_answered_then_it_asks_again(
        engine, services, channel, said, answer):
    sender = new_sender()
    await at_location(engine, sender, channel)
    result = await say(engine, sender, said, channel)
    assert answer in result.text and "什么地方" in result.text, (said, result.text)
    assert await requested_slot(engine, sender) == "case_location"
    assert await slot(engine, sender, "case_location") is None
    await finish(engine, sender, channel, result)
    [case] = await cases(services)
    assert case.location == CITIZEN["case_location"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_goodbye_mid_intake_ends_it_and_stores_nothing(engine, services, channel):
    sender = new_sender()
    await at_location(engine, sender, channel)
    result = await say(engine, sender, "好的，再见", channel)
    assert "没有提交" in result.text and "再见" in result.text, result.text
    assert await requested_slot(engine, sender) is None and await slot(engine, sender, "case_description") is None
    assert await cases(services) == []


async def test_the_read_back_offers_to_change_the_category_at_once(engine, services):
    sender = new_sender()
    first = await say(engine, sender, "我要投诉", "webchat")
    result, _ = await answer_form(engine, sender, CITIZEN, first, "webchat")
    payloads = {b.get("title"): b.get("payload") for r in result.replies for b in (r.buttons or [])}
    assert payloads["修改分类"] == '/correct{"correct_field": "case_category"}'
    result = await say(engine, sender, payloads["修改分类"], "webchat")
    assert "请选择正确的分类" in result.text


async def conversation(engine, channel: str, texts: list[str]) -> list[str]:
    """What the bot said in a conversation, knowledge articles aside (their text is the city's)."""
    sender, said = new_sender(), []
    for text in texts:
        result = await say(engine, sender, text, channel)
        said += [r.text for r in result.replies if not (r.custom or {}).get("knowledge")]
    return said


SCRIPTS = [
    ["你好", "你是谁", "给我放首歌", "asdfgh", "qwerty zxcv"],
    ["我要投诉", "太短", CITIZEN["case_description"], "谢谢", "天气怎么样", "幸福小区东门", "昨天晚上",
     "13812345678", "匿名", "需要", "不对", "/correct{\"correct_field\": \"case_category\"}"],
    ["我要提建议", "取消"], ["我想给市长写信", "再见"], ["我要表扬", "你好", "算了"],
    ["查询办理进度", "123", "1234567890123", "123456", "转人工"],
    ["政策咨询", "红烧肉怎么做", "邻居家的狗每天晚上叫怎么办"],
    ["我要投诉", CITIZEN["case_description"], "幸福小区东门", "昨天", "13812345678", "王", "需要", "确认", "再见"],
]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s[0])
async def test_no_chat_reply_has_phone_wording(engine, services, script):
    for channel in ("webchat", "rest"):
        for text in await conversation(engine, channel, script):
            assert not PHONE_ONLY.search(text), (channel, text)


async def test_the_phone_gets_its_own_wording(engine, services):
    said = " ".join(await conversation(engine, "voice", ["我要投诉", CITIZEN["case_description"], "给我放首歌"]))
    assert "请说“转人工”" in said and "请说“没有”" in said and "请说“取消”" in said, said
