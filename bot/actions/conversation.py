"""The conversation around the business: hand-off, recovery, repeat, survey and goodbye."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet, UserUtteranceReverted

from bot.runtime import runtime
from bot.satisfaction import grade
from bot.transcript import lines_from_events
from cases.store import NotFound
from hotline.i18n import translate

from .common import channel, entity, is_voice, language, metadata, pause_form, resume_form, say

SIGNAL_HANDOFF = {"signal": "handoff"}


def rating_buttons(locale: str) -> list[dict]:
    """The survey's three answers (the desk asks with them too when an agent hands a chat back)."""
    return [{"title": translate(locale, f"bot.rating.{t}"), "payload": f'/rate{{"satisfaction": "{v}"}}'}
            for t, v in (("satisfied", "1"), ("average", "2"), ("dissatisfied", "3"))]



SIGNAL_END = {"signal": "end_of_conversation"}
SIGNAL_HANGUP = {"signal": "hangup"}


def transcript(tracker: Tracker, limit: int = 50) -> list[dict]:
    """The lines as the citizen saw them (button clicks by their titles) for the agent's copy.
    Without times: lines with "at" are those said while a human had the chat (cases/handoffs.py)."""
    return [{k: v for k, v in line.items() if k not in ("buttons", "at")}
            for line in lines_from_events(tracker.events, since_session_start=True)][-limit:]


# what an agent needs of the bot's slots, in the order a person reads them (bot internals such as
# did_business, failures, correct_field or the poll's state are not for people)
SUMMARY_SLOTS = ("case_kind", "case_description", "case_location", "case_happened", "contact_name",
                 "contact_phone", "case_number", "last_case_number")


def handoff_summary(tracker: Tracker, lines: list[dict]) -> dict:
    """What the citizen asked (their own words), what the bot had gathered, the phone given."""
    slots = {k: tracker.get_slot(k) for k in SUMMARY_SLOTS if tracker.get_slot(k) not in (None, "", "none")}
    said = [line["text"] for line in lines if line["from"] == "citizen" and not line.get("button")
            and line.get("intent") not in ("request_human", "greet")]
    phone = tracker.get_slot("contact_phone") or metadata(tracker).get("caller_number") or ""
    return {"intent": (tracker.latest_message or {}).get("intent", {}).get("name"), "slots": slots,
            "asked": said[-3:], "phone": phone if phone != "none" else "",
            "language": language(tracker)}  # the agent answers in it; the desk's closing words are in it


def consecutive_fallbacks(tracker: Tracker) -> int:
    count = 0
    for e in reversed(tracker.events):
        if e.get("event") != "action":
            continue
        name = e.get("name")
        if name == "action_default_fallback":
            count += 1
        elif name not in ("action_listen", None):
            break
    return count


def just_asked_satisfaction(tracker: Tracker) -> bool:
    """The bot's last words were the satisfaction question (its buttons carry /rate)."""
    for e in reversed(tracker.events):
        if e.get("event") == "bot":
            buttons = (e.get("data") or {}).get("buttons") or []
            return any(str(b.get("payload", "")).startswith("/rate") for b in buttons)
    return False


class ActionPauseForm(Action):
    """A request of its own in the middle of a form (查进度, 转人工): the form steps aside, keeping
    what it gathered, and asks its pending question again once that request is served."""

    def name(self) -> str:
        return "action_pause_form"

    async def run(self, dispatcher, tracker, domain) -> list:
        return pause_form(tracker)


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain) -> list:
        rt = runtime()
        paused = tracker.get_slot("paused_form")
        if await rt.agents_on_duty(channel(tracker)) is False:
            # nobody would ever take it (a chat at night): said in chat words, with what can be done
            # now instead; a form it interrupted goes on
            self.nobody_on_duty(dispatcher, tracker, rt.agent_hours, form=bool(paused))
            return resume_form(dispatcher, tracker)
        if paused and await rt.agents_free(channel(tracker)) is False:
            # nobody free to take it: rather than a queue or a voicemail that loses what the form
            # gathered, the form goes on; 转人工 again after it is answered the usual way
            dispatcher.utter_message(response="utter_no_agent")
            return resume_form(dispatcher, tracker)
        reason = "failures" if consecutive_fallbacks(tracker) >= 2 else "asked"
        lines = transcript(tracker)
        summary = handoff_summary(tracker, lines)
        if not summary["phone"] and tracker.get_slot("last_case_number"):
            # the form's slots are cleared once the case is filed: its phone is on the case
            try:
                summary["phone"] = (await rt.store.get(tracker.get_slot("last_case_number"))).contact_phone or ""
            except NotFound:
                pass
        meta = metadata(tracker)
        # the number the citizen gave in this chat counts as theirs: the desk finds their history by it
        caller = meta.get("caller_number") or summary["phone"] or meta.get("email") or ""
        await rt.conversations.request_handoff(tracker.sender_id, channel(tracker), reason, summary,
                                               lines, caller)
        await rt.publish("handoff_requested", {"conversation": tracker.sender_id, "channel": channel(tracker),
                                               "reason": reason})
        dispatcher.utter_message(response="utter_handoff", json_message=SIGNAL_HANDOFF)
        return [SlotSet("paused_form", None), ConversationPaused()]

    @staticmethod
    def nobody_on_duty(dispatcher, tracker: Tracker, hours: str, *, form: bool) -> None:
        text = say(tracker, "handoff.nobody") + (say(tracker, "handoff.hours", hours=hours) if hours else "")
        if form:  # the registration it interrupted goes on (resume_form says so)
            dispatcher.utter_message(text=text + say(tracker, "handoff.nobody_form"))
            return
        dispatcher.utter_message(text=text + say(tracker, "handoff.nobody_offer"), buttons=[
            {"title": say(tracker, "handoff.file"), "payload": "/complain"},
            {"title": say(tracker, "handoff.message"), "payload": "/leave_consultation"}])


class ActionDefaultFallback(Action):
    """Not understood: re-prompt once in other words; the second failure in a row goes to a human."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher, tracker, domain) -> list:
        if just_asked_satisfaction(tracker) and grade((tracker.latest_message or {}).get("text") or ""):
            # "就那样吧" right after the survey question is an answer to it, however unsure the NLU
            return [FollowupAction("action_store_satisfaction")]
        if consecutive_fallbacks(tracker) >= 1:  # this is the second in a row
            dispatcher.utter_message(text=say(tracker, "fallback.again"))
            return [FollowupAction("action_handoff")]
        text = say(tracker, "fallback.voice" if is_voice(tracker) else "fallback.text")
        dispatcher.utter_message(text=text, buttons=[
            {"title": say(tracker, f"fallback.{key}"), "payload": payload}
            for key, payload in (("complain", "/complain"), ("status", "/check_status"), ("policy", "/ask_policy"),
                                 ("human", "/request_human"))])
        # forget the message for prediction (as Rasa's own fallback does), so the bot waits for the
        # next one instead of predicting again on the message it did not understand
        return [UserUtteranceReverted()]


class ActionRepeat(Action):
    """Say again what the bot said in its last turn (voice callers miss things)."""

    def name(self) -> str:
        return "action_repeat"

    async def run(self, dispatcher, tracker, domain) -> list:
        said: list[dict] = []
        seen_current_user = False
        for e in reversed(tracker.events):
            if e.get("event") == "user":
                if seen_current_user:
                    break
                seen_current_user = True
            elif e.get("event") == "bot" and seen_current_user:
                said.append(e)
        for e in reversed(said):
            data = e.get("data") or {}
            dispatcher.utter_message(text=e.get("text"), buttons=data.get("buttons"),
                                     json_message=data.get("custom"))
        if not said:
            dispatcher.utter_message(response="utter_menu")
        return []


class ActionGoodbye(Action):
    def name(self) -> str:
        return "action_goodbye"

    async def run(self, dispatcher, tracker, domain) -> list:
        if tracker.get_slot("did_business") and not tracker.get_slot("satisfaction"):
            dispatcher.utter_message(response="utter_ask_satisfaction", buttons=rating_buttons(language(tracker)))
            return []
        dispatcher.utter_message(response="utter_goodbye",
                                 json_message=SIGNAL_HANGUP if is_voice(tracker) else SIGNAL_END)
        return []


class ActionStoreSatisfaction(Action):
    def name(self) -> str:
        return "action_store_satisfaction"

    async def run(self, dispatcher, tracker, domain) -> list:
        raw = entity(tracker, "satisfaction") or grade((tracker.latest_message or {}).get("text") or "")
        if raw not in ("1", "2", "3"):
            dispatcher.utter_message(response="utter_ask_satisfaction", buttons=rating_buttons(language(tracker)))
            return []
        await runtime().conversations.record_satisfaction(tracker.sender_id, channel(tracker), int(raw))
        dispatcher.utter_message(response="utter_thanks_for_rating")
        dispatcher.utter_message(response="utter_goodbye",
                                 json_message=SIGNAL_HANGUP if is_voice(tracker) else SIGNAL_END)
        return [SlotSet("satisfaction", raw)]
