"""What makes a turn cheaper must not change a single answer: the parse cache, the action result
check, the shortcut of the empty MemoizationPolicy and the queue turns wait in for the CPU."""
import asyncio
from types import SimpleNamespace

import pytest
from jsonschema import ValidationError, validators

from bot.action_results import result_validator
from bot.parse_cache import ParseCache
from bot.turn_queue import TurnQueue, leave_turn_queue
from bot_support import new_sender, say


# ---- the parse cache ---------------------------------------------------------------------------
class CountingParser:
    def __init__(self):
        self.calls = 0

    def __call__(self, message, tracker=None, only_output_properties=True):
        self.calls += 1
        data = {"text": message.text, "intent": {"name": "affirm", "confidence": 0.9},
                "entities": [{"entity": "x", "value": "1"}]}
        if not only_output_properties:
            data.update(message_id=message.message_id, metadata=message.metadata)
        return data


def message(text, message_id="m1", metadata=None):
    return SimpleNamespace(text=text, message_id=message_id, metadata=metadata)


def test_a_short_text_is_understood_once_and_each_turn_gets_its_own_copy():
    parser = CountingParser()
    cache = ParseCache(parser)
    first = cache.parse(message("确认"))
    first["entities"].append({"entity": "edited"})  # Rasa edits parse data in place
    second = cache.parse(message("确认", "m2"))
    assert parser.calls == 1
    assert second == {"text": "确认", "intent": {"name": "affirm", "confidence": 0.9},
                      "entities": [{"entity": "x", "value": "1"}]}
    assert cache.stats() == {"entries": 1, "hits": 1, "misses": 1, "uncached": 0}


def test_long_texts_and_full_parse_data_are_never_shared():
    parser = CountingParser()
    cache = ParseCache(parser, max_text=10)
    long_text = "我们小区楼下的饭店每天半夜还在营业"
    cache.parse(message(long_text))
    cache.parse(message(long_text))
    # the full parse data holds the message's own id and metadata
    mine = cache.parse(message("确认", "m1", {"phone": "13800000001"}), only_output_properties=False)
    theirs = cache.parse(message("确认", "m2", {"phone": "13900000002"}), only_output_properties=False)
    assert (mine["metadata"], theirs["metadata"]) == ({"phone": "13800000001"}, {"phone": "13900000002"})
    assert parser.calls == 4 and cache.stats()["uncached"] == 4


def test_the_cache_keeps_the_most_recently_used_texts():
    parser = CountingParser()
    cache = ParseCache(parser, max_entries=2)
    for text in ("是", "否", "是", "好"):  # 否 is the least recently used when 好 arrives
        cache.parse(message(text))
    cache.parse(message("是"))
    assert parser.calls == 3
    cache.parse(message("否"))
    assert parser.calls == 4


def test_no_cache_where_the_nlu_reads_the_conversation():
    def processor(needs):
        nodes = {"run_classifier": SimpleNamespace(needs=needs)}
        schema = SimpleNamespace(minimal_graph_schema=lambda targets: SimpleNamespace(nodes=nodes))
        return SimpleNamespace(model_metadata=SimpleNamespace(predict_schema=schema, nlu_target="run_classifier"),
                               _parse_message_with_graph=CountingParser())

    reads_it = processor({"messages": "__message__", "tracker": "__tracker__"})
    assert ParseCache.install(reads_it) is None
    assert isinstance(reads_it._parse_message_with_graph, CountingParser)
    text_only = processor({"messages": "__message__"})
    cache = ParseCache.install(text_only)
    assert cache is not None and text_only._parse_message_with_graph == cache.parse


@pytest.mark.bot
async def test_a_cached_understanding_is_the_models_own(engine):
    cache = engine.parse_cache
    assert cache is not None, "this pipeline's NLU reads only the text: the cache must be on"
    from rasa.core.channels.channel import UserMessage

    text = "不需要了谢谢"
    fresh = cache._parse(UserMessage(text), None, True)
    await say(engine, new_sender(), text)
    hits = cache.hits
    await say(engine, new_sender(), text)
    assert cache.hits == hits + 1
    assert cache.parse(UserMessage(text), None, True) == fresh


@pytest.mark.bot
async def test_the_gateway_counts_where_understanding_came_from(engine, client):
    for _ in range(2):
        resp = await client.post("/webhooks/rest/webhook", json={"sender": new_sender(), "message": "谢谢你"})
        assert resp.status == 200
    text = await (await client.get("/metrics")).text()
    counts = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("hotline_bot_parses_total{")}
    assert counts["cache"] >= 1 and counts["model"] >= 1


# ---- the action result check -------------------------------------------------------------------
RESULTS = [
    {"events": [{"event": "slot", "timestamp": None, "name": "kind", "value": "投诉"},
                {"event": "active_loop", "name": "case_form"}, {"event": "bot", "text": "您好"}],
     "responses": [{"text": "请问在哪里？"}]},
    {},
    {"events": [{"event": "slot", "name": 3}]},                             # a kind's field of the wrong type
    {"events": [{"event": "no_such_event"}]},                               # no kind of that name
    {"events": [{"name": "x"}]},                                            # no kind at all
    {"events": [3]},
    {"events": "x"},
    {"responses": 3},
    {"events": [{"event": "slot", "name": "a", "timestamp": "now"}]},       # a common field
    {"events": [{"event": "user", "text": None, "parse_data": {"intent": {"name": "x", "confidence": "high"}}}]},
]


@pytest.mark.parametrize("result", RESULTS)
def test_action_results_get_jsonschemas_verdict(result):
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    full = validators.validator_for(schema)(schema)
    expected = full.is_valid(result)
    check = result_validator()
    if expected:
        check(result)
    else:
        with pytest.raises(ValidationError):
            check(result)


# ---- MemoizationPolicy with nothing memorised --------------------------------------------------
def test_an_empty_memoization_policy_predicts_what_it_did(tmp_path):
    from rasa.core.policies.memoization import MemoizationPolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import memoization_shortcut

    memoization_shortcut.install()
    shortcut = MemoizationPolicy.predict_action_probabilities
    assert shortcut.shortcut
    domain = Domain.from_yaml("version: '3.1'\nintents: [greet]\nresponses:\n  utter_hi:\n  - text: 你好\n")
    tracker = DialogueStateTracker.from_events("s", [ActionExecuted("action_listen"),
                                                     UserUttered("你好", {"name": "greet", "confidence": 1.0})])

    def policy(lookup):
        return MemoizationPolicy(MemoizationPolicy.get_default_config(), LocalModelStorage(tmp_path),
                                 Resource("memo"), ExecutionContext(GraphSchema({}), "test"), lookup=lookup)

    empty = policy({})
    assert shortcut(empty, tracker, domain) == shortcut.original(empty, tracker, domain)
    # with something memorised it works as before: here it remembers utter_hi after greet
    states = empty._prediction_states(tracker, domain)
    remembering = policy({empty._create_feature_key(states): "utter_hi"})
    prediction = shortcut(remembering, tracker, domain)
    assert prediction == shortcut.original(remembering, tracker, domain)
    assert prediction.probabilities[domain.index_for_action("utter_hi")] == 1.0


# ---- the turn queue ----------------------------------------------------------------------------
async def test_a_turn_leaves_the_queue_while_it_waits_for_its_commit():
    queue, order = TurnQueue(1), []
    committed = asyncio.Event()

    async def first():
        async with queue.turn():
            order.append("first: CPU")
            leave_turn_queue()
            leave_turn_queue()  # leaving twice gives back one place, not two
            await committed.wait()
            order.append("first: committed")

    async def second():
        await asyncio.sleep(0)
        async with queue.turn():
            order.append("second: CPU")
            await asyncio.sleep(0.01)
            order.append("second: done")
            committed.set()

    async def third():
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        async with queue.turn():
            order.append("third: CPU")

    await asyncio.wait_for(asyncio.gather(first(), second(), third()), 5)
    # the second ran while the first waited; the third waited for the second, not for the commit
    assert order[:3] == ["first: CPU", "second: CPU", "second: done"]
    assert set(order[3:]) == {"first: committed", "third: CPU"}
    leave_turn_queue()  # outside a turn: nothing to leave


async def test_turns_that_do_not_leave_run_one_after_another():
    queue, running, most = TurnQueue(1), 0, 0

    async def turn():
        nonlocal running, most
        async with queue.turn():
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(turn() for _ in range(10)))
    assert most == 1
