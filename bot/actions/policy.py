"""Policy questions answered from the knowledge articles in the case store; a question with no
answer is offered for filing when it is about the hotline's work, and refused politely when it is
not (bot/questions.py decides)."""
from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from bot.questions import ANSWER, OUT_OF_SCOPE, decide
from bot.runtime import runtime

from .common import is_voice, language, latest_text, say


def in_form(tracker) -> bool:
    """A question asked while the intake form waits for an answer: the form asks again after it."""
    return (tracker.active_loop or {}).get("name") == "case_form"


class ActionAnswerPolicy(Action):
    def name(self) -> str:
        return "action_answer_policy"

    async def run(self, dispatcher, tracker, domain) -> list:
        question = latest_text(tracker)
        if len(question) < 4:  # the menu choice itself ("政策咨询") carries no question yet
            dispatcher.utter_message(response="utter_ask_policy_question")
            return []
        rt = runtime()
        outcome = await decide(question, rt.knowledge, rt.categories, language(tracker))
        if in_form(tracker):  # a digression: a short answer, no offers, then back to the form
            if outcome.kind == ANSWER:
                dispatcher.utter_message(text=outcome.answer.answer, json_message={"knowledge": outcome.answer.slug})
            elif outcome.kind == OUT_OF_SCOPE:
                dispatcher.utter_message(response="utter_out_of_scope")
            else:
                dispatcher.utter_message(text=say(tracker, "policy.no_answer_in_form"))
            dispatcher.utter_message(response="utter_back_to_form")
            return []
        if outcome.kind == OUT_OF_SCOPE:  # no answer, and nothing the hotline handles: say so
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        events = [SlotSet("last_question", question), SlotSet("did_business", True)]
        if outcome.kind != ANSWER:
            dispatcher.utter_message(text=say(tracker, "policy.no_answer"))
            # a question about a problem the hotline handles: offer to file it
            dispatcher.utter_message(
                text=say(tracker, "policy.offer", category=outcome.category.name) if outcome.category
                else say(tracker, "policy.offer_no_category"),
                buttons=[{"title": say(tracker, "policy.file_complaint"), "payload": "/complain"},
                         {"title": say(tracker, "policy.human"), "payload": "/request_human"},
                         {"title": say(tracker, "policy.leave_question"), "payload": "/leave_consultation"}])
            return events
        dispatcher.utter_message(text=outcome.answer.answer, json_message={"knowledge": outcome.answer.slug})
        if is_voice(tracker):
            dispatcher.utter_message(text=say(tracker, "policy.helped_voice"))
        else:
            dispatcher.utter_message(response="utter_did_that_help")
        return events


class ActionPolicyUnresolved(Action):
    def name(self) -> str:
        return "action_policy_unresolved"

    async def run(self, dispatcher, tracker, domain) -> list:
        dispatcher.utter_message(
            text=say(tracker, "policy.unresolved"),
            buttons=[{"title": say(tracker, "policy.human"), "payload": "/request_human"},
                     {"title": say(tracker, "policy.leave_question"), "payload": "/leave_consultation"}])
        return []
