"""Case status by dialogue: number, then password (or, on the phone, the caller's own number)."""
from __future__ import annotations

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet

from bot.normalize import digits_only
from bot.runtime import runtime
from cases.credentials import is_valid_case_number
from cases.intake import normalize_phone
from cases.public import public_view
from cases.store import NotFound

from .common import (channel, entity, is_interruption, is_voice, metadata, reset, resume_form, spell_digits,
                     wants_to_stop)

MAX_PASSWORD_TRIES = 3


async def _caller_owns_case(tracker: Tracker, number: str) -> bool:
    """On the phone, a caller whose number is the case's contact phone needs no password."""
    caller = normalize_phone(metadata(tracker).get("caller_number") or "")
    if not caller or not is_voice(tracker):
        return False
    try:
        case = await runtime().store.get(number)
    except NotFound:
        return False
    return case.contact_phone == caller


class ValidateStatusForm(FormValidationAction):
    def name(self) -> str:
        return "validate_status_form"

    async def run(self, dispatcher, tracker, domain) -> list:
        if tracker.get_slot("requested_slot") and wants_to_stop(tracker):  # "算了" "不查了"
            dispatcher.utter_message(response="utter_status_stopped")
            # the form ends without a look-up: back to a form it interrupted, or to listening
            return (reset("case_number", "case_password") + [SlotSet("requested_slot", None)]
                    + (resume_form(dispatcher, tracker) or [FollowupAction("action_listen")]))
        return await super().run(dispatcher, tracker, domain)

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        number = tracker.get_slot("case_number")
        if number and (number == tracker.get_slot("last_case_number") or await _caller_owns_case(tracker, number)):
            return ["case_number"]
        return list(domain_slots)

    async def extract_case_number(self, dispatcher, tracker, domain) -> dict:
        value = entity(tracker, "case_number")
        if value:
            return {"case_number": value}
        last = tracker.get_slot("last_case_number")
        if last and tracker.get_slot("requested_slot") is None and not tracker.get_slot("case_number"):
            # "查一下进度" after the bot filed (or showed) a case in this conversation: that case,
            # without asking for the number it gave a minute ago (nor its password: this
            # conversation was told it, or proved it)
            return {"case_number": last}
        if tracker.get_slot("requested_slot") == "case_number" and not is_interruption(tracker):
            return {"case_number": digits_only((tracker.latest_message or {}).get("text") or "") or "?"}
        return {}

    async def extract_case_password(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") == "case_password" and not is_interruption(tracker):
            return {"case_password": digits_only((tracker.latest_message or {}).get("text") or "") or "?"}
        return {}

    async def validate_case_number(self, value, dispatcher, tracker, domain) -> dict:
        number = digits_only(str(value or ""))
        if not is_valid_case_number(number):
            dispatcher.utter_message(response="utter_bad_case_number")
            return {"case_number": None}
        return {"case_number": number}


class AskNumber(Action):
    def name(self) -> str:
        return "action_ask_case_number"

    async def run(self, dispatcher, tracker, domain) -> list:
        dispatcher.utter_message(response="utter_prompt_case_number")
        return []


class AskPassword(Action):
    def name(self) -> str:
        return "action_ask_case_password"

    async def run(self, dispatcher, tracker, domain) -> list:
        dispatcher.utter_message(text="请输入6位查询密码。")
        return []


def status_text(view: dict, voice: bool) -> str:
    parts = [f"受理编号{spell_digits(view['number'], voice)}的{view['kind_label']}，目前状态是：{view['status_label']}。"]
    if view.get("reply"):
        parts.append(f"答复内容：{view['reply']}")
    elif view.get("deadline") and view["status"] not in ("closed", "followed_up"):
        parts.append(f"办理时限是{view['deadline']}，承办部门会在时限内答复您。")
    return "".join(parts)


class ActionCaseStatus(Action):
    def name(self) -> str:
        return "action_case_status"

    async def run(self, dispatcher, tracker, domain) -> list:
        rt = runtime()
        number = tracker.get_slot("case_number") or ""
        password = tracker.get_slot("case_password") or ""
        tries = int(tracker.get_slot("failures") or 0)
        case = None
        if number and (number == tracker.get_slot("last_case_number") or await _caller_owns_case(tracker, number)):
            case = await rt.store.get(number)
        elif number and password:
            case = await rt.store.lookup(number, password)
        if case is None:
            if tries + 1 >= MAX_PASSWORD_TRIES:
                dispatcher.utter_message(response="utter_status_locked")
            else:
                dispatcher.utter_message(response="utter_status_not_found")
            return (reset("case_number", "case_password") + [SlotSet("failures", tries + 1)]
                    + resume_form(dispatcher, tracker))
        events = await rt.store.events(case.id, public_only=True)
        view = public_view(case, events, "zh", rt.timezone)
        dispatcher.utter_message(text=status_text(view, is_voice(tracker)))
        if number == tracker.get_slot("last_case_number") and not entity(tracker, "case_number"):
            dispatcher.utter_message(text="如需查询其他诉求，请告诉我“查询进度”和它的13位受理编号。")
        await rt.conversations.add_case(tracker.sender_id, channel(tracker), case.number)
        return (reset("case_number", "case_password") + [SlotSet("failures", 0), SlotSet("did_business", True),
                                                         SlotSet("last_case_number", case.number)]
                + resume_form(dispatcher, tracker))
