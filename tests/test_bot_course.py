"""Multi-turn conversations where the citizen changes course (issue 18): stopping an intake in any
words stores nothing, questions are answered as questions (with an offer to file when the
knowledge base has nothing), closings end the talk, out-of-scope requests are refused politely,
the read-back corrects the category, places and punctuation are kept as the citizen wrote them."""
import pytest
import sqlalchemy as sa

from bot_support import answer_form, new_sender, requested_slot, say, slot
from cases.models import Case

pytestmark = pytest.mark.bot

CITIZEN = {"case_description": "小区旁边的工地每天半夜还在施工，噪音太大了，吵得睡不着觉",
           "case_location": "幸福小区东门", "case_happened": "每天晚上十点以后",
           "contact_phone": "我的电话是13812345678", "contact_name": "我姓王", "wants_reply": "需要"}
BUSINESS = {"action_start_case", "status_form", "action_answer_policy", "case_form"}


async def cases(services) -> list[Case]:
    async with services.db.read() as s:
        return list((await s.execute(sa.select(Case))).scalars())


@pytest.mark.parametrize("stop", ["取消", "算了，不登记了", "我不是要提建议", "我说了不登记！", "不办了，谢谢"])
async def test_stopping_an_intake_at_any_question_stores_nothing_and_says_so(engine, services, stop):
    for asked_after in (1, 3):  # stopped at the description or later, at the name
        sender = new_sender()
        result = await say(engine, sender, "我想提个建议")
        for _ in range(asked_after - 1):
            wanted = await requested_slot(engine, sender)
            result = await say(engine, sender, {"case_description": "建议在幸福路口加装一个红绿灯，早晚高峰太乱了",
                                                "case_location": "幸福路口", "contact_phone": "13812345678",
                                                "contact_name": "王"}.get(wanted, "需要"))
        result = await say(engine, sender, stop)
        assert "取消" in result.text and "不会提交" in result.text, (stop, result.text)
        assert await requested_slot(engine, sender) is None
        assert await slot(engine, sender, "case_description") is None
        follow = await say(engine, sender, "你好")  # the form does not come back
        assert "称呼" not in follow.text and "地方" not in follow.text
    assert await cases(services) == []


async def test_a_policy_question_is_answered_not_filed(engine, services):
    sender = new_sender()
    result = await say(engine, sender, "夜间施工需要办许可吗")
    assert await requested_slot(engine, sender) is None  # no intake started
    assert "登记" not in result.text or "可以帮您登记" in result.text
    assert await cases(services) == []


@pytest.mark.parametrize("question, about", [("邻居家的狗每天晚上叫怎么办", "狗"), ("菜市场的秤不准怎么办", "秤")])
async def test_an_unanswered_question_offers_to_file_with_its_category(engine, services, question, about):
    sender = new_sender()
    result = await say(engine, sender, question)  # the sample knowledge base has no answer to these
    assert "没有找到" in result.text and "登记投诉" in result.text
    assert "/complain" in [b.get("payload") for r in result.replies for b in (r.buttons or [])]
    assert await requested_slot(engine, sender) is None and await cases(services) == []
    await say(engine, sender, "/complain")
    assert about in (await slot(engine, sender, "case_description") or "")  # the question became the description
    assert await slot(engine, sender, "case_category")


@pytest.mark.parametrize("closing", ["谢谢，再见", "好的谢谢 拜拜", "没事了，挂了啊"])
async def test_closings_end_the_conversation(engine, closing):
    sender = new_sender()
    await say(engine, sender, "你好")
    result = await say(engine, sender, closing)
    assert "还有其他需要" not in result.text, result.text


@pytest.mark.parametrize("text", ["红烧茄子怎么做", "放一首刘德华的歌", "明天会下雨吗", "帮我订一张去杭州的高铁票",
                                  "三百乘以四等于多少", "把这句话翻译成英文",
                                  # questions the NLU may take for policy questions: no answer, no category
                                  "羽毛球拍穿线多少磅合适", "吉他的大横按怎么练"])
async def test_out_of_scope_requests_get_a_polite_refusal_and_no_intake(engine, services, text):
    sender = new_sender()
    result = await say(engine, sender, text)
    assert "12345" in result.text and "服务范围" in result.text, result.text
    assert await requested_slot(engine, sender) is None
    assert await cases(services) == []


async def test_read_back_lets_the_citizen_correct_the_category(engine, services):
    sender = new_sender()
    first = await say(engine, sender, "我要投诉")
    result, _ = await answer_form(engine, sender, CITIZEN, first)
    assert "分类" in result.text
    result = await say(engine, sender, "不对")
    titles = [b.get("title") for r in result.replies for b in (r.buttons or [])]
    assert "分类" in titles
    result = await say(engine, sender, '/correct{"correct_field": "case_category"}')
    offered = [b.get("payload") for r in result.replies for b in (r.buttons or [])]
    assert len(offered) >= 3 and all(p.startswith('/correct{"category"') for p in offered)
    result = await say(engine, sender, '/correct{"category": "cxjs.wzjz"}')
    assert "违章建筑" in result.text  # read back with the new category
    await say(engine, sender, "确认")
    [case] = await cases(services)
    assert case.category.code == "cxjs.wzjz" and case.category_confidence == 1.0


async def test_the_place_keeps_the_citizens_words_and_punctuation(engine, services):
    sender = new_sender()
    first = await say(engine, sender, "我要投诉")
    place = "幸福路12号在建工地，幸福家园小区东边（靠北门）"
    answers = dict(CITIZEN, case_location=place,
                   case_description="工地每天晚上十一点以后还在施工，吵得睡不着！")
    result, _ = await answer_form(engine, sender, answers, first)
    await say(engine, sender, "确认")
    [case] = await cases(services)
    assert case.location == place
    assert case.description == "工地每天晚上十一点以后还在施工，吵得睡不着！"
    assert case.category.code.startswith("hjbh") and case.category_confidence is not None


async def test_a_question_or_a_change_of_topic_mid_form_is_answered_and_the_form_goes_on(engine, services):
    sender = new_sender()
    await say(engine, sender, "我要投诉")
    assert await requested_slot(engine, sender) == "case_description"
    # a question the knowledge base answers is a question, even where the form wants the problem
    result = await say(engine, sender, "对了，身份证丢了去哪里补办？")
    assert "身份证" in result.text and "接着" in result.text, result.text
    assert await requested_slot(engine, sender) == "case_description"
    assert await slot(engine, sender, "case_description") is None
    await say(engine, sender, CITIZEN["case_description"])
    assert await requested_slot(engine, sender) == "case_location"
    for digression, said in (("办居住证需要带什么材料？", "居住证"), ("给我放一首周杰伦的歌吧", "服务范围")):
        result = await say(engine, sender, digression)
        assert said in result.text and "什么地方" in result.text, (digression, result.text)
        assert await requested_slot(engine, sender) == "case_location"
        assert await slot(engine, sender, "case_location") is None
    result, asked = await answer_form(engine, sender, CITIZEN, result)
    assert asked[0] == "case_location"
    await say(engine, sender, "确认")
    [case] = await cases(services)
    assert case.location == CITIZEN["case_location"] and case.description == CITIZEN["case_description"]
