"""The bot's own parts that need no model: text normalization, retrieval, classification."""
import pytest

from bot.classify import CategoryClassifier
from bot.knowledge import KnowledgeBase
from bot.normalize import digits_only, normalize_text
from bot.satisfaction import grade
from bot.textmatch import BM25
from bot.turns import Reply, TurnResult
from cases.knowledge import KnowledgeRepository


@pytest.mark.parametrize("text,expected", [
    ("我的电话是幺三八一二三四五六七八九", "我的电话是138123456789"),
    ("１３８１２３４５６７８", "13812345678"),
    ("编号 2611 2801 2345 7", "编号 2611280123457"),
    ("密码是四八二九幺三", "密码是482913"),
    ("洞幺二三四五六", "0123456"),
    ("一般般吧", "一般般吧"),          # words with digit characters stay
    ("我要投诉一下", "我要投诉一下"),
    ("三四个小时了", "三四个小时了"),
    ("两个人", "两个人"),
    ("ｈｅｌｌｏ\u200b\x00", "hello"),
])
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_digits_only():
    assert digits_only("幺三八 1234，两五") == "138123425"


@pytest.mark.parametrize("text,expected", [
    ("满意", "1"), ("相当满意", "1"), ("服务很到位", "1"), ("满分", "1"), ("1", "1"), ("按１", "1"),
    ("一般", "2"), ("基本满意吧", "2"), ("就那样吧", "2"), ("普普通通", "2"), ("二", "2"),
    ("不满意", "3"), ("不太行", "3"), ("太让人失望了", "3"), ("很不满 敷衍了事", "3"), ("选三", "3"),
    ("今天天气", None), ("123", None), ("", None),
])
def test_satisfaction_grade_from_the_citizens_words(text, expected):
    assert grade(text) == expected


def test_bm25_prefers_the_matching_document():
    index = BM25(["社保卡丢失 挂失 补办", "公积金 提取 买房", "居住证 办理 材料"])
    scores = index.scores("社保卡丢了怎么补")
    assert scores.index(max(scores)) == 0
    assert index.scores("天气") == [0, 0, 0]


def test_turn_result_signals_and_rasa_shape():
    r = TurnResult([Reply("好的"), Reply("", custom={"signal": "handoff"}), Reply("x", custom={"signal": "bogus"})])
    assert r.signals == ["handoff"] and r.text == "好的\nx"
    assert Reply("你好", [{"title": "是", "payload": "/affirm"}]).as_rasa("s") == {
        "recipient_id": "s", "text": "你好", "buttons": [{"title": "是", "payload": "/affirm"}]}


async def test_knowledge_answers_follow_the_database(services):
    kb = KnowledgeBase(KnowledgeRepository(services.db))
    best = await kb.best("社保卡丢了怎么办")
    assert best is not None and "社保卡" in best.question
    assert (await kb.best("公积金怎么提取")).slug != best.slug
    assert await kb.best("今天天气怎么样") is None


async def test_category_guess_from_the_citizens_words(services):
    classifier = CategoryClassifier(KnowledgeRepository(services.db))
    noise = await classifier.guess("楼下广场舞太吵了，每天晚上扰民")
    assert noise.code == "hjbh.zswr"
    wages = await classifier.guess("老板拖欠我三个月工资不给")
    assert wages.code.startswith("ldsb")
    assert await classifier.guess("你好") is None


async def test_a_question_is_answered_offered_for_filing_or_refused(services):
    from bot.questions import ANSWER, OFFER, OUT_OF_SCOPE, decide

    repo = KnowledgeRepository(services.db)
    kb, classifier = KnowledgeBase(repo), CategoryClassifier(repo)
    answered = await decide("身份证丢了怎么补办", kb, classifier)
    assert answered.kind == ANSWER and answered.answer.slug == "shenfenzheng-buban"
    offered = await decide("小区门口的烧烤摊油烟太大了怎么办", kb, classifier)
    assert offered.kind == OFFER and offered.category is not None
    for question in ("乒乓球怎么发转球", "手机内存满了怎么清理"):
        assert (await decide(question, kb, classifier)).kind == OUT_OF_SCOPE, question


async def test_redis_lock_store_serializes_a_conversation_across_processes():
    """Several gateway processes share conversations through Redis locks (real Redis here): a
    second holder waits for the first, takes over within milliseconds of its release, and a
    holder that died (stopped renewing) frees the conversation within the lock's lifetime."""
    from bot.engine import lock_store_for
    from conftest import REDIS_SERVER, redis_namespace
    with redis_namespace("locks") as (prefix, _):
        await _one_turn_at_a_time(lock_store_for(REDIS_SERVER, prefix), lock_store_for(REDIS_SERVER, prefix))


async def _one_turn_at_a_time(one, other) -> None:
    import asyncio
    import time
    import uuid

    from bot.lock_store import RedisTurnLockStore
    assert isinstance(one, RedisTurnLockStore) and one.prefix.startswith("test-locks-")
    conversation = f"conversation-{uuid.uuid4().hex}"
    order = []

    async def turn(store, name, hold_s):
        async with store.lock(conversation):
            order.append(f"{name} in")
            await asyncio.sleep(hold_s)
            order.append(f"{name} out")

    first = asyncio.create_task(turn(one, "one", 0.3))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await turn(other, "other", 0)
    await first
    assert order == ["one in", "one out", "other in", "other out"]
    assert time.monotonic() - started < 1.0
    # a holder killed with -9: its key stays until the lifetime ends, then the next turn goes on
    dead = RedisTurnLockStore(one.redis, lifetime_s=0.5, prefix=one.prefix)
    lock = dead.redis.lock(dead.prefix + conversation, timeout=0.5)
    assert await lock.acquire(blocking=False)
    started = time.monotonic()
    async with other.lock(conversation):
        assert 0.2 < time.monotonic() - started < 2.0
    assert await one.redis.exists(one.prefix + conversation) == 0
    await one.redis.close()
    await other.redis.close()
