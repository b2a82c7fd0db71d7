"""The English parts of the bot that need no model: the bot's sentences in both catalogs,
English articles answering English questions, English survey answers, the intake's English cues,
and the language a channel message names."""
import pytest

from bot.knowledge import KnowledgeBase
from bot.satisfaction import grade
from bot.textmatch import grams
from cases.knowledge import KnowledgeRepository
from channels.webchat import message_locale
from hotline.i18n import catalog


def test_every_sentence_of_the_bot_exists_in_both_languages_with_the_same_placeholders():
    import string

    zh = {k: v for k, v in catalog("zh").items() if k.startswith("bot.")}
    en = {k: v for k, v in catalog("en").items() if k.startswith("bot.")}
    assert zh.keys() == en.keys() and len(zh) > 50

    def fields(text):
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    # the English sentence may leave out a word Chinese needs ({say}: 说出/写下), never add one
    assert [k for k in zh if not fields(en[k]) <= fields(zh[k])] == []


@pytest.mark.parametrize("text,expected", [
    ("satisfied", "1"), ("Excellent, thank you!", "1"), ("5 stars", "1"),
    ("average", "2"), ("it was ok", "2"), ("not bad", "2"), ("meh", "2"),
    ("not satisfied", "3"), ("dissatisfied", "3"), ("I am unhappy with it", "3"), ("wasn't helpful", "3"),
    ("what's the weather", None),
])
def test_english_survey_answers_are_graded(text, expected):
    assert grade(text) == expected


def test_english_words_count_as_words_and_chinese_as_before():
    assert grams("How do I replace my lost social security cards?") == ["replace", "lost", "social", "security", "card"]
    assert grams("社保卡") == ["社保", "保卡"]


async def test_english_questions_are_answered_from_english_articles_only(services):
    kb = KnowledgeBase(KnowledgeRepository(services.db))
    best = await kb.best("I lost my social security card, what do I do", "en")
    assert best is not None and best.slug == "shebaoka-guashi-en"
    assert (await kb.best("how can I take money out of my housing fund", "en")).slug == "gongjijin-tiqu-en"
    assert await kb.best("what's the weather like today", "en") is None
    assert (await kb.best("社保卡丢了怎么办")).slug == "shebaoka-guashi"  # Chinese from the Chinese ones
    assert await kb.best("社保卡丢了怎么办", "en") is None


async def test_an_english_question_without_an_article_is_offered_not_refused(services):
    from bot.classify import CategoryClassifier
    from bot.questions import ANSWER, OFFER, decide

    repo = KnowledgeRepository(services.db)
    kb, classifier = KnowledgeBase(repo), CategoryClassifier(repo)
    assert (await decide("how do I renew my ID card", kb, classifier, "en")).kind == ANSWER
    offered = await decide("what are the opening hours of the tax office", kb, classifier, "en")
    assert offered.kind == OFFER and offered.category is None


@pytest.mark.parametrize("text,expected", [
    ("I want to complain", True), ("I would like to make a complaint", True), ("report", True),
    ("I want to write a letter to the mayor", True), ("mayors mailbox", True), ("我要投诉", True),
    ("I want to complain about the noise from the building site", False), ("我要投诉幸福路工地噪音", False),
    ("i want to report a broken street light", False),
])
def test_the_request_alone_is_not_taken_for_the_problem(text, expected):
    from bot.actions.case_intake import trigger_only

    assert trigger_only(text) is expected


@pytest.mark.parametrize("value,expected", [
    ("en", "en"), ("zh", "zh"), ("en-GB", "en"), ("ZH_cn", "zh"), ("ja", "ja"),
    (None, "zh"), (5, "zh"), ("", "zh"), ("english please", "zh"), ("<script>", "zh"),
])
def test_the_language_a_message_names(value, expected):
    assert message_locale(value, "zh") == expected


async def test_an_admin_adds_an_english_article_and_the_bot_answers_english_questions_with_it(services, client_factory):
    from desk_support import login, make_users, post

    await make_users(services)
    admin = await client_factory(services)
    assert (await login(admin, "admin1")).status == 302
    article = {"slug": "library-hours-en", "question": "When is the city library open?",
               "alternates": "library opening hours, is the library open on sunday", "keywords": "library, hours",
               "answer": "The city library is open 9:00-21:00 every day but Monday.", "active": "1"}
    # the language is a choice of the bot's languages: none, or one it does not speak, is refused
    for bad in ("", "ja"):
        resp = await post(admin, "/desk/admin/knowledge", {**article, "locale": bad}, page="/desk/admin/knowledge")
        assert resp.status == 400, bad
    resp = await post(admin, "/desk/admin/knowledge", {**article, "locale": "en"}, page="/desk/admin/knowledge")
    assert resp.status == 200, await resp.text()
    kb = KnowledgeBase(KnowledgeRepository(services.db))
    assert (await kb.best("is the library open on sundays?", "en")).slug == "library-hours-en"
    assert await kb.best("图书馆几点开门") is None  # not for Chinese questions
