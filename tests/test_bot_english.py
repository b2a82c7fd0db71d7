"""The bot in English, end to end: the web chat and the REST channel carry the page's language,
English is read by its own NLU and the same dialogue and actions answer in it, and a language nobody
serves is said so."""
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.evaluate import HELDOUT_EN, OUT_OF_SCOPE_EN
from bot.languages import written_in_chinese
from bot.training import ENGLISH_DATA, english_training_files, training_files
from bot_support import answer_form, new_sender, receive_until, say, slot
from cases.models import Case

pytestmark = pytest.mark.bot

CJK = re.compile(r"[\u4e00-\u9fff]")
CITIZEN = {"case_description": "The construction site next to our building works until 2am every night, nobody can sleep",
           "case_location": "Xingfu Road, next to Sunshine Garden", "case_happened": "every night after 11pm",
           "contact_phone": "my number is 13812345678", "contact_name": "my name is John Smith", "wants_reply": "yes please"}


def english(text: str) -> bool:
    """Said in English: no Chinese character outside what the citizen typed."""
    return bool(text) and not CJK.search(text)


async def cases(services) -> list[Case]:
    async with services.db.read() as s:
        return list((await s.execute(sa.select(Case))).scalars())


async def rest(client, sender: str, message: str, locale: str | None = "en") -> list[dict]:
    resp = await client.post("/webhooks/rest/webhook", json={
        "sender": sender, "message": message, **({"metadata": {"locale": locale}} if locale else {})})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_an_english_conversation_files_a_case_and_reads_it_back_in_english(engine, services):
    sender = new_sender("en")
    hello = await say(engine, sender, "hi there", locale="en")
    assert english(hello.text) and "12345" in hello.text
    assert [b["title"] for b in hello.replies[0].buttons][:2] == ["Mayor's mailbox", "Complaint or report"]
    first = await say(engine, sender, "I want to make a complaint", locale="en")
    assert english(first.text) and "complaint" in first.text
    result, asked = await answer_form(engine, sender, CITIZEN, first, locale="en")
    assert asked == ["case_description", "case_location", "case_happened", "contact_phone", "contact_name",
                     "wants_reply"]
    assert english(result.text.replace(CITIZEN["case_description"], "")), result.text
    assert "Let me check" in result.text and "Type: Complaint" in result.text and "Name: John Smith" in result.text
    assert [b["title"] for b in result.replies[-1].buttons] == ["Submit", "Edit", "Change category"]
    done = await say(engine, sender, "yes, submit it", locale="en")
    number = re.search(r"Case number: (\d{13})", done.text).group(1)
    password = re.search(r"lookup password: (\d{6})", done.text).group(1)
    assert english(done.text) and "working days" in done.text
    [case] = await cases(services)
    assert case.number == number and case.locale == "en" and case.kind == "complaint"
    assert case.contact_name == "John Smith" and case.contact_phone == "13812345678"
    assert "2am" in case.description and case.category is None  # the Chinese classifier does not guess English
    assert (await services.store.lookup(number, password)).id == case.id
    # the status of the case it just filed, without asking for its number again
    status = await say(engine, sender, "what's the status of my complaint?", locale="en")
    assert english(status.text) and number in status.text and "Registered" in status.text
    # goodbye after business: the survey, in English, then the goodbye
    rating = await say(engine, sender, "that's all, bye", locale="en")
    assert english(rating.text) and [b["title"] for b in rating.replies[0].buttons] == [
        "Satisfied", "Average", "Dissatisfied"]
    bye = await say(engine, sender, "very satisfied", locale="en")
    assert english(bye.text) and "Goodbye" in bye.text


async def test_english_over_the_rest_channel_by_metadata_locale(engine, client, services, agent_on_duty):
    sender = "rest-en-1"
    said = await rest(client, sender, "Hello")
    assert english(said[0]["text"]) and {"title", "payload"} <= set(said[0]["buttons"][0])
    # a knowledge answer from the English articles
    said = await rest(client, sender, "how do I replace my lost social security card?")
    assert [r["custom"]["knowledge"] for r in said if "knowledge" in r.get("custom", {})] == ["shebaoka-guashi-en"]
    assert "Report the loss" in said[0]["text"] and english(said[0]["text"])
    assert said[-1]["text"] == "Did that answer your question?"
    # a question the hotline does not serve is refused in English
    said = await rest(client, sender, "tell me a joke")
    assert english(said[0]["text"]) and "outside" in said[0]["text"]
    # the form in English, a correction, then a hand-off to a person from inside it
    said = await rest(client, sender, "there's a broken street light on Jiefang Avenue, it's been dark for a week")
    assert english(" ".join(r["text"] for r in said)) and said[0]["text"] == "OK, let me take down your request: report."
    assert await slot(engine, sender, "requested_slot") in ("case_location", "case_happened")  # the details are kept
    said = await rest(client, sender, "I need to talk to a real person")
    assert english(said[0]["text"]) and "agent" in said[0]["text"]
    assert {"signal": "handoff"} in [r.get("custom") for r in said]
    assert await cases(services) == []  # nothing filed: the agent takes it from here


async def test_english_in_the_web_chat_widget_files_a_case(engine, client, services):
    ws = await client.ws_connect("/ws/chat?lang=en")
    await ws.send_json({"type": "hello", "session": None})
    await receive_until(ws, lambda f: f["type"] == "history")

    async def turn(text: str) -> str:
        await ws.send_json({"type": "message", "text": text, "locale": "en"})
        frames = await receive_until(ws, lambda f: f["type"] == "idle")
        return "\n".join(f.get("text") or "" for f in frames if f["type"] == "bot")

    said = await turn("/report")
    assert english(said) and "report" in said
    said = await turn("the manhole cover on our street is missing, a kid almost fell in")
    assert "Where exactly" in said
    said = await turn("in front of No. 3 Middle School on Huanghe Road")
    assert "When did it happen" in said
    said = await turn("since yesterday morning")
    assert "phone number" in said
    said = await turn("13912345678")
    assert "your name" in said
    said = await turn("anonymous")
    assert "reply" in said
    said = await turn("no")
    assert "Let me check" in said and "Name: anonymous" in said and "Reply wanted: no" in said and english(said)
    said = await turn("/affirm")
    number = re.search(r"Case number: (\d{13})", said).group(1)
    assert english(said)
    await ws.close()
    [case] = await cases(services)
    assert case.number == number and case.kind == "report" and case.anonymous and case.locale == "en"


async def test_chinese_stays_chinese_and_a_citizen_may_switch_mid_chat(engine, services):
    sender = new_sender("zh")
    hello = await say(engine, sender, "你好")
    assert "您好" in hello.text and await slot(engine, sender, "language") == "zh"
    first = await say(engine, sender, "我要投诉", locale="zh")
    assert first.text.startswith("好的，我来帮您登记投诉")
    switched = await say(engine, sender, "The restaurant downstairs plays loud music until 1am every night", locale="en")
    assert "Where exactly" in switched.text and await slot(engine, sender, "language") == "en"
    back = await say(engine, sender, "幸福小区东门", locale="zh")
    assert CJK.search(back.text) and not re.search("[A-Za-z]{3,}", back.text), back.text
    assert await slot(engine, sender, "language") == "zh"


async def test_a_language_nobody_serves_is_said_so_on_both_channels(engine, client, services):
    said = await rest(client, "rest-ja", "騒音の苦情を言いたい", locale="ja")
    assert said == [{"recipient_id": "rest-ja", "text": said[0]["text"],
                     "custom": {"unsupported_locale": "ja", "served": ["zh", "en"]}}]
    bad = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "hi", "metadata": {"locale": 5}})
    assert bad.status == 400 and "locale" in (await bad.json())["errors"]
    ws = await client.ws_connect("/ws/chat?lang=en")
    await ws.send_json({"type": "hello", "session": None})
    await receive_until(ws, lambda f: f["type"] == "history")
    await ws.send_json({"type": "message", "text": "騒音の苦情", "locale": "ja-JP"})
    frames = await receive_until(ws, lambda f: f["type"] == "idle")
    assert frames[0] == {"type": "unsupported_locale", "locale": "ja", "served": ["zh", "en"]}
    assert not any(f["type"] == "bot" for f in frames)
    await ws.close()
    assert await cases(services) == []


async def test_english_is_read_by_its_own_nlu_and_chinese_by_the_chinese_one(engine, bot_agent):
    assert engine.locales == ("zh", "en") and bot_agent.languages.locales == ("zh", "en")
    sender = new_sender("en")
    assert english((await say(engine, sender, "hello", locale="en")).text)
    # a REST client that named its language once: the conversation's language reads the next message
    said = await say(engine, sender, "I would like to make a complaint")
    assert said.text.startswith("OK, let me take down your request: complaint.") and english(said.text)
    # Chinese characters on the English page are read by the Chinese NLU, the answer stays English
    other = new_sender("en")
    said = await say(engine, other, "我要举报", locale="en")
    assert said.text.startswith("OK, let me take down your request: report.") and english(said.text)
    assert written_in_chinese("我要投诉") and not written_in_chinese("a pothole outside 幸福小区 on Xingfu Road")


def _sentences(path: Path) -> list[str]:
    lines = [line.strip()[2:] for line in path.read_text(encoding="utf-8").splitlines() if line.strip().startswith("- ")]
    return [re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line) for line in lines if not line.startswith("intent:")]


def test_the_english_held_out_sentences_are_not_training_sentences_in_other_words():
    def words(text: str) -> frozenset:
        return frozenset(re.findall(r"[a-z0-9']+", text.lower()))

    trained = [words(t) for f in english_training_files() if f.parent == ENGLISH_DATA for t in _sentences(f)]
    for text in _sentences(HELDOUT_EN) + _sentences(OUT_OF_SCOPE_EN):
        held = words(text)
        closest = max(len(held & t) / len(held | t) for t in trained)
        assert closest < 0.75, text  # most of its words in one training sentence: a paraphrase


def test_each_language_trains_from_its_own_data_and_shares_the_regexes():
    chinese, english_files = training_files(), english_training_files()
    assert not any(ENGLISH_DATA in f.parents for f in chinese)
    assert {f for f in english_files if f.parent != ENGLISH_DATA} == {f for f in chinese if f.name == "regex.yml"}


def test_the_english_nlu_knows_the_dialogues_intents_and_no_other():
    import yaml

    from bot.training import DOMAIN

    domain = set(yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["intents"])
    english = {item["intent"] for f in english_training_files() if f.parent == ENGLISH_DATA
               for item in yaml.safe_load(f.read_text(encoding="utf-8"))["nlu"] if "intent" in item}
    assert english == domain
