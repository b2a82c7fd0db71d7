"""bot/nlu_batch.py: texts outside a conversation parsed in batches on the engine's NLU thread give
what Rasa's own `parse_message` gives, and a failing batch fails only its own callers."""
import asyncio
import threading

import pytest
from rasa.core.channels.channel import UserMessage

from bot.nlu_batch import NluBatcher

pytestmark = pytest.mark.bot

TEXTS = ["我要投诉楼下工地半夜施工噪音太大", "社保卡丢了怎么补办", "我的电话是13812345678",
         "转人工", "你好", "查一下我的受理单办理得怎么样了", "光明路的路灯坏了一个多月没人修，请尽快处理"]


def _essence(parsed: dict) -> tuple:
    return (parsed["text"], parsed["intent"]["name"], round(parsed["intent"]["confidence"], 4),
            sorted((e["entity"], str(e["value"])) for e in parsed.get("entities") or []))


async def test_concurrent_texts_are_batched_and_parsed_as_rasa_does(bot_agent):
    expected = [_essence(await bot_agent.parse_message(text)) for text in TEXTS]
    batcher = NluBatcher(bot_agent.processor, max_batch=4)
    try:
        got = await asyncio.gather(*(batcher.parse(UserMessage(text)) for text in TEXTS))
        assert [_essence(p) for p in got] == expected
        assert batcher.messages == len(TEXTS)
        assert batcher.batches == 2  # four, then the three that waited meanwhile
        assert all("intent_ranking" in p for p in got)
        # an idle batcher parses a lone text at once, in a batch of its own
        lone = await batcher.parse(UserMessage(TEXTS[0]))
        assert _essence(lone) == expected[0] and batcher.batches == 3
    finally:
        batcher.close()


async def test_the_work_runs_off_the_event_loop_thread(bot_agent):
    batcher = NluBatcher(bot_agent.processor)
    seen = []
    real_run = batcher._run
    batcher._run = lambda messages: (seen.append(threading.current_thread().name), real_run(messages))[1]
    try:
        await batcher.parse(UserMessage("你好"))
        assert seen and seen[0].startswith("nlu") and seen[0] != threading.main_thread().name
    finally:
        batcher.close()


async def test_a_failing_batch_fails_its_callers_and_the_next_batch_works(bot_agent):
    batcher = NluBatcher(bot_agent.processor)
    real_run, calls = batcher._run, []

    def flaky(messages):
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("graph failed")
        return real_run(messages)

    batcher._run = flaky
    try:
        with pytest.raises(RuntimeError, match="graph failed"):
            await batcher.parse(UserMessage("你好"))
        parsed = await batcher.parse(UserMessage("社保卡丢了怎么补办"))
        assert parsed["intent"]["name"] == "ask_policy"
    finally:
        batcher.close()
