"""The active opinion poll, question by question, answered by key, word or synonym."""
from __future__ import annotations

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import FollowupAction, SlotSet
from sqlalchemy import select

from bot.normalize import digits_only
from bot.runtime import runtime
from cases.models import Poll, PollAnswer, PollResponse

from .common import channel, is_interruption, is_voice, latest_intent, resume_form


async def active_poll(poll_id=None):
    """The poll asked for (a poll call placed from the desk names one), if active; else the first active one."""
    async with runtime().store.db.read() as s:
        query = select(Poll).where(Poll.active.is_(True)).order_by(Poll.id)
        if poll_id:
            chosen = (await s.execute(query.where(Poll.id == int(poll_id)))).scalar()
            if chosen is not None:
                return chosen
        return (await s.execute(query)).scalar()


def match_option(options: list[dict], text: str, payload_key: str | None) -> str | None:
    keys = {str(o["key"]) for o in options}
    if payload_key in keys:
        return payload_key
    digits = digits_only(text)
    if len(digits) == 1 and digits in keys:
        return digits
    for o in sorted(options, key=lambda o: -len(o["text"])):  # the longest wording wins (不满意 over 满意)
        if o["text"] in text or any(s and s in text for s in o.get("synonyms", [])):
            return str(o["key"])
    return None


class ActionStartPoll(Action):
    def name(self) -> str:
        return "action_start_poll"

    async def run(self, dispatcher, tracker, domain) -> list:
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        poll = await active_poll(metadata.get("poll_id") if str(metadata.get("poll_id", "")).isdigit() else None)
        if poll is None or not poll.questions:
            dispatcher.utter_message(response="utter_no_poll")
            return resume_form(dispatcher, tracker)
        dispatcher.utter_message(text=f"{poll.title}。{poll.intro}")
        state = {"poll_id": poll.id, "index": 0, "answers": {}}
        return [SlotSet("poll_state", state), SlotSet("poll_answer", None), FollowupAction("poll_form")]


class AskPollAnswer(Action):
    def name(self) -> str:
        return "action_ask_poll_answer"

    async def run(self, dispatcher, tracker, domain) -> list:
        state = tracker.get_slot("poll_state") or {}
        poll = await active_poll(state.get("poll_id"))
        if poll is None or state.get("index", 0) >= len(poll.questions):
            return []
        q = poll.questions[state["index"]]
        if is_voice(tracker):
            choices = "，".join(f"{o['text']}请按{o['key']}" for o in q.options) + "。"
        else:  # a chat shows the options as buttons; keys may be typed
            choices = "请点击选项，或输入选项前的数字：" + "；".join(f"{o['key']} {o['text']}" for o in q.options)
        dispatcher.utter_message(text=f"第{state['index'] + 1}题：{q.text}{choices}", buttons=[
            {"title": o["text"], "payload": f'/inform{{"poll_key": "{o["key"]}"}}'} for o in q.options])
        return []


class ValidatePollForm(FormValidationAction):
    def name(self) -> str:
        return "validate_poll_form"

    async def extract_poll_answer(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") != "poll_answer" or is_interruption(tracker):
            return {}
        message = tracker.latest_message or {}
        payload_key = next((str(e.get("value")) for e in message.get("entities", []) if e.get("entity") == "poll_key"), None)
        return {"poll_answer": payload_key or message.get("text") or "?"}

    async def validate_poll_answer(self, value, dispatcher, tracker, domain) -> dict:
        """Record the answer to the current question and move on; "done" after the last one."""
        if value is None:  # the slot cleared by action_start_poll, validated with the poll's first turn: no answer yet
            return {"poll_answer": None}
        state = dict(tracker.get_slot("poll_state") or {})
        poll = await active_poll(state.get("poll_id"))
        if poll is None or not state:
            return {"poll_answer": "done"}
        q = poll.questions[state["index"]]
        key = match_option(q.options, str(value or ""), str(value or ""))
        if key is None:
            if latest_intent(tracker) == "deny":
                dispatcher.utter_message(text="好的，问卷不做了，感谢您的关注。")
                return {"poll_answer": "done", "poll_state": {**state, "answers": {}}}
            dispatcher.utter_message(text="抱歉，没有听清您的选择，请按选项前的数字键，或说出选项。" if is_voice(tracker)
                                     else "抱歉，没有看懂您的选择，请点击选项，或输入选项前的数字。")
            return {"poll_answer": None}
        state["answers"] = {**state.get("answers", {}), str(q.id): key}
        state["index"] += 1
        return {"poll_answer": "done" if state["index"] >= len(poll.questions) else None, "poll_state": state}


class ActionSubmitPoll(Action):
    def name(self) -> str:
        return "action_submit_poll"

    async def run(self, dispatcher, tracker, domain) -> list:
        state = tracker.get_slot("poll_state") or {}
        if state.get("answers"):
            async with runtime().store.db.write() as s:
                response = PollResponse(poll_id=state["poll_id"], conversation_id=tracker.sender_id,
                                        channel=channel(tracker))
                s.add(response)
                await s.flush()
                for question_id, key in state["answers"].items():
                    s.add(PollAnswer(response_id=response.id, question_id=int(question_id), option_key=key))
            dispatcher.utter_message(response="utter_poll_done")
        return ([SlotSet("poll_state", None), SlotSet("poll_answer", None), SlotSet("did_business", True)]
                + resume_form(dispatcher, tracker))
