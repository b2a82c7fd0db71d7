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


def test_the_fingerprint_follows_the_case_store_examples():
    base = build.fingerprint([])
    assert build.fingerprint([]) == base
    assert build.fingerprint([Example("工地夜间施工", "hjbh", "hjbh.zswr")]) != base


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
