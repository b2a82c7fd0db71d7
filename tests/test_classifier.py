"""The learned category classifier (classifier/, bot/classify.py): its data, how it combines with
the city's keywords, the fingerprinted build, what the channels file with it."""
import pytest

from bot.classify import CategoryClassifier
from cases.intake import InvalidInput, validate_case
from cases.knowledge import KnowledgeRepository
from cases.workflow import Channel
from classifier import build, dataset
from classifier.dataset import Example
from classifier.decide import KEYWORD_OVERRIDES_BELOW, choose, keyword_hit


def test_every_bootstrap_label_is_a_top_level_of_the_taxonomy():
    taxonomy = dataset.load_taxonomy()
    examples = dataset.bootstrap_examples(taxonomy)
    assert len(examples) == 8625
    assert {e.top for e in examples} == {"cxjs", "ldsb", "jywt", "smly", "hjbh", "wsjk", "jtys"}
    # weak leaf labels only ever name a child of the message's own top level
    assert all(e.leaf.startswith(e.top + ".") for e in examples if e.leaf)


def test_clean_text_reads_like_the_training_text():
    assert dataset.clean("幸福路12号，工地（晚上）还在施工！ OK") == "幸福路12号工地晚上还在施工ok"


def test_keyword_hit_needs_a_clear_winner():
    cats = [("a", ["广场舞", "噪音"]), ("b", ["工资"]), ("c", ["拖欠"])]
    assert keyword_hit("楼下广场舞噪音太大", cats) == "a"
    assert keyword_hit("拖欠工资", cats) is None  # a tie is no hit
    assert keyword_hit("你好", cats) is None


def test_a_keyword_overrides_the_model_only_inside_its_top_level_or_when_the_model_is_unsure():
    ranked = [("hjbh.zswr", 0.8), ("hjbh.dqwr", 0.1)]
    sure = {"hjbh": 0.9, "cxjs": 0.1}
    assert choose(ranked, sure, "hjbh.dqwr").code == "hjbh.dqwr"          # same top level: the city's word
    assert choose(ranked, sure, "cxjs.wygl").code == "hjbh.zswr"          # another top level, model sure
    unsure = {"hjbh": KEYWORD_OVERRIDES_BELOW - 0.1, "cxjs": 0.3}
    chosen = choose(ranked, unsure, "cxjs.wygl")
    assert chosen.code == "cxjs.wygl" and chosen.source == "keywords" and chosen.confidence == 0.3
    assert choose([], {}, None) is None


def test_the_fingerprint_follows_the_training_examples():
    base = build.fingerprint([Example("楼下广场舞太吵", "hjbh", "hjbh.zswr")])
    assert build.fingerprint([Example("楼下广场舞太吵", "hjbh", "hjbh.zswr")]) == base
    assert build.fingerprint([Example("楼下广场舞太吵", "hjbh", "hjbh.zswr"), Example("工地夜间施工", "hjbh", None)]) != base
    assert build.fingerprint([Example("楼下广场舞太吵", "hjbh", None)]) != base  # a corrected label counts


def test_confidence_is_kept_with_a_category_and_checked():
    data = {"kind": "complaint", "description": "工地夜间施工太吵", "wants_reply": False}
    inp = validate_case(dict(data, category="hjbh.zswr", category_confidence=0.73), channel=Channel.WEB)
    assert inp.category_confidence == 0.73
    assert validate_case(dict(data, category_confidence=0.73), channel=Channel.WEB).category_confidence is None
    for bad in ("high", 1.5, -0.1):
        with pytest.raises(InvalidInput) as exc:
            validate_case(dict(data, category="hjbh.zswr", category_confidence=bad), channel=Channel.WEB)
        assert "category_confidence" in exc.value.errors


async def test_the_classifier_files_real_messages_with_confidence_and_three_options(services):
    classifier = CategoryClassifier(KnowledgeRepository(services.db))
    noise = await classifier.guess("我要投诉，幸福路12号工地每天晚上十一点以后还在施工，吵得睡不着")
    assert noise.code == "hjbh.zswr" and 0 < noise.confidence <= 1
    assert len(noise.alternatives) == 3 and noise.alternatives[0].code == noise.code
    wages = await classifier.guess("老板拖欠我们三个月工资，找了好几次都不给")
    assert wages.code.startswith("ldsb")
    school = await classifier.guess("孩子今年上小学，户口不在学区能不能报名")
    assert school.code.startswith("jywt")
    assert await classifier.guess("你好") is None


async def test_a_form_without_a_category_is_filed_by_the_classifier(services, client_factory):
    from bot.classify import category_fields

    fields = await category_fields(services, "小区门口的路灯坏了一个多月了，晚上黑漆漆的")
    assert fields["category"].startswith("cxjs") and 0 < fields["category_confidence"] <= 1


async def test_an_agents_correction_is_recorded_and_becomes_a_training_example(services):
    from cases.store import BOT, Actor

    user = await services.accounts.create_user("agent7", "hotline-agent-7", "agent")
    agent = Actor(f"user:{user.username}", user.id)
    inp = validate_case({"kind": "complaint", "description": "幸福路边上有人私自搭了一排彩钢棚", "wants_reply": False,
                         "category": "hjbh.zswr", "category_confidence": 0.41}, channel=Channel.WEBCHAT)
    case, _ = await services.store.create_case(inp, BOT)
    assert case.category_confidence == 0.41
    taxonomy = dataset.load_taxonomy()
    assert await dataset.case_examples(services.db, taxonomy) == []  # the bot's guess teaches nothing

    with pytest.raises(InvalidInput) as exc:
        await services.store.correct(case.number, agent, category="no.such", title="")
    assert set(exc.value.errors) == {"category", "title"}
    assert (await services.store.get(case.number)).category.code == "hjbh.zswr"  # nothing changed

    fixed = await services.store.correct(case.number, agent, category="cxjs.wzjz", title="私搭彩钢棚",
                                         location="幸福路12号在建工地，幸福家园小区东边")
    assert fixed.category.code == "cxjs.wzjz" and fixed.category_confidence is None
    assert fixed.title == "私搭彩钢棚" and fixed.location == "幸福路12号在建工地，幸福家园小区东边"
    event = (await services.store.events(case.id))[-1]
    assert event.action == "correct" and event.user_id == user.id
    assert event.data == {"category": "cxjs.wzjz", "title": "私搭彩钢棚", "location": fixed.location}
    [example] = await dataset.case_examples(services.db, taxonomy)
    assert example.leaf == "cxjs.wzjz" and example.top == "cxjs" and "彩钢棚" in example.text


async def test_the_desk_shows_the_likely_categories_and_takes_an_agents_correction(services, client_factory):
    from cases.store import BOT
    from desk_support import login, make_users, post

    await make_users(services)
    inp = validate_case({"kind": "complaint", "description": "幸福路12号工地每天晚上十一点以后还在施工，吵得睡不着",
                         "wants_reply": False, "category": "cxjs.wzjz", "category_confidence": 0.35},
                        channel=Channel.WEBCHAT)
    case, _ = await services.store.create_case(inp, BOT)
    agent, dept = await client_factory(services), await client_factory(services)
    assert (await login(agent, "agent1")).status == 302 and (await login(dept, "dept1")).status == 302

    page = await (await agent.get(f"/desk/cases/{case.number}")).text()
    assert "把握不大" in page and 'data-category="hjbh.zswr"' in page  # the model's own first choice is offered
    assert 'id="correct-form"' in page
    assert 'id="correct-form"' not in await (await dept.get(f"/desk/cases/{case.number}")).text()

    resp = await post(dept, f"/desk/cases/{case.number}/action", {"action": "correct", "category": "hjbh.zswr"})
    assert resp.status in (400, 403) and (await services.store.get(case.number)).category.code == "cxjs.wzjz"
    resp = await post(agent, f"/desk/cases/{case.number}/action",
                      {"action": "correct", "category": "hjbh.zswr", "title": "工地夜间施工噪音", "location": "幸福路12号"},
                      page=f"/desk/cases/{case.number}")
    assert resp.status == 200 and "已保存更正" in await resp.text()
    fixed = await services.store.get(case.number)
    assert (fixed.category.code, fixed.title, fixed.location, fixed.category_confidence) == \
        ("hjbh.zswr", "工地夜间施工噪音", "幸福路12号", None)
