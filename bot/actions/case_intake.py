"""Filing a case by dialogue: a form that asks only for what is missing, a read-back, the case.

Kind comes from the intent (complain, report …), category from the citizen's own words; the
case is committed through cases/ before its number and password are told to the citizen.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.classify import INTENT_KINDS
from bot.normalize import digits_only
from bot.runtime import runtime
from cases import case_links
from cases.intake import InvalidInput, is_phone, normalize_phone, validate_case
from cases.store import BOT
from cases.workflow import KIND_LABELS, Channel, Kind, label

from . import existing_case
from .common import (CASE_SLOTS, channel, digression, entity, is_interruption, is_voice, language, latest_intent,
                     latest_text, metadata, mostly_digits, previous_action, reset, say, says_goodbye, spell_digits,
                     wants_to_stop)

log = logging.getLogger("hotline.bot")
# rasa_sdk warns on every form turn for each slot without a validate_<slot> method; here the
# extract_<slot> methods already check what they take, so that line is noise (and costs time)
logging.getLogger("rasa_sdk.forms").setLevel(logging.ERROR)

NOT_SAID = "未说明"
SEPARATE = "separate_case"  # the correct_field value of "this is another matter: file it apart"
ANONYMOUS = "匿名"
NO_PHONE = "none"
KINDS_WITH_TIME = {Kind.COMPLAINT.value, Kind.REPORT.value, Kind.HELP.value}
_NAME_PREFIX = re.compile(r"^(我叫|我姓|我是|姓|叫|名字是|名字叫|我的名字是|(hi,? )?(my name is|my name's|name is|"
                          r"i am|i'm|im|this is|call me|it's|its)\s+)", re.IGNORECASE)
# the request alone, no problem told yet: "我要投诉", "I'd like to make a complaint"
_TRIGGER_ONLY = re.compile(r"^(喂|你好|您好|那个|嗯|我|我要|我想|想|要)*(投诉|举报|建议|求助|表扬|反映|提个?建议|"
                           r"给市长写信|市长信箱|留言|写信)(一下|个事|个问题|情况)?[。！!，,]*$|"
                           r"^((hi|hello|hey|ok|okay|yes|please|i|i'd|id|i'm|im|i would|want|wanna|like|need|just|"
                           r"to|make|file|submit|lodge|leave|give|send|write|have|report|complain|suggest|an?|my|some|the)[ ,]+)*"
                           r"(complaint|complain|report|suggestion|suggest|problem|issue|message|letter|feedback|"
                           r"help|compliment|praise|something|(a |my )?(message|letter) to the mayor|"
                           r"mayor'?s? ?mail ?box)( please)?[.!, ]*$", re.IGNORECASE)


def trigger_only(text: str) -> bool:
    """Is the message just the request ("我要投诉", "I want to make a complaint"), no problem told?"""
    return len(text) <= 60 and bool(_TRIGGER_ONLY.match(text))


CHANNEL_OF = {"voice": Channel.PHONE_SELF, "webchat": Channel.WEBCHAT, "rest": Channel.WEBCHAT,
              "socketio": Channel.WEBCHAT, "email": Channel.EMAIL, "desk": Channel.PHONE_AGENT}


def kind_label(kind: str | None, locale: str = "zh") -> str:
    return label(KIND_LABELS, kind or "consultation", locale)


class ActionStartCase(Action):
    """Begin a new case from the intent; keep whatever the first message already said."""

    def name(self) -> str:
        return "action_start_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        intent = latest_intent(tracker)
        kind = INTENT_KINDS.get(intent, Kind.COMPLAINT.value)
        events = reset(*CASE_SLOTS) + [SlotSet("case_kind", kind)]
        text = latest_text(tracker)
        if intent == "leave_consultation" or (not text and previous_action(tracker) == "action_answer_policy"):
            # "留言咨询", or the offer to file after a question the knowledge base could not answer
            text = tracker.get_slot("last_question") or ""
            events.append(SlotSet("last_question", None))
        if len(text) >= 8 and not trigger_only(text):
            events.append(SlotSet("case_description", text))
            events += await category_events(text, language(tracker))
        for slot, ent in (("case_location", "location"), ("case_happened", "time"),
                          ("contact_phone", "phone"), ("contact_name", "person_name")):
            value = entity(tracker, ent)
            if value:
                events.append(SlotSet(slot, value))
        dispatcher.utter_message(text=say(tracker, "case.start", kind=_kind_in_text(kind, tracker)))
        return events


def _kind_in_text(kind: str | None, tracker: Tracker) -> str:
    """The kind's name inside a sentence ("your complaint": English names are not capitalised there)."""
    name = kind_label(kind, language(tracker))
    return name.lower() if language(tracker) == "en" and not name.startswith("Mayor") else name


async def category_events(text: str, locale: str = "zh") -> list:
    """The category the classifier gives the citizen's words, with its confidence. The classifier
    reads Chinese: English words get no guess (an agent chooses), rather than a wrong one."""
    guess = await runtime().categories.guess(text) if locale == "zh" else None
    if not guess:
        return [SlotSet("case_category", None), SlotSet("case_category_confidence", None)]
    return [SlotSet("case_category", guess.code), SlotSet("case_category_confidence", guess.confidence)]


class ValidateCaseForm(FormValidationAction):
    def name(self) -> str:
        return "validate_case_form"

    async def run(self, dispatcher, tracker, domain) -> list:
        if not tracker.get_slot("requested_slot"):
            # the form starting, or coming back after a request of its own (查进度, 转人工): the
            # latest message ("算了，不查了", a password) was not an answer to any of its questions
            return await super().run(dispatcher, tracker, domain)
        if wants_to_stop(tracker):  # whatever was asked: nothing is stored, and the citizen is told
            dispatcher.utter_message(response="utter_case_cancelled")
            return reset(*CASE_SLOTS) + [SlotSet("requested_slot", None), FollowupAction("action_listen")]
        if says_goodbye(tracker):  # leaving mid-form: nothing stored, then the usual goodbye
            dispatcher.utter_message(response="utter_case_dropped")
            return reset(*CASE_SLOTS) + [SlotSet("requested_slot", None), FollowupAction("action_goodbye")]
        if await self._digresses(tracker):
            # nothing taken from it: the form is rejected, a rule answers it and the form asks again
            return []
        return await super().run(dispatcher, tracker, domain)

    @staticmethod
    async def _digresses(tracker: Tracker) -> bool:
        """A question or a change of topic mid-form. At the description a question is the problem
        to file unless the knowledge base answers it ("夜间施工要办许可吗" vs "路灯为什么不亮")."""
        intent = digression(tracker)
        if intent is None:
            return False
        if intent == "ask_policy" and tracker.get_slot("requested_slot") == "case_description":
            return await runtime().knowledge.best(latest_text(tracker), language(tracker)) is not None
        return True

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        slots = list(domain_slots)
        if tracker.get_slot("case_kind") in KINDS_WITH_TIME and "case_happened" not in slots:
            slots.insert(slots.index("case_location") + 1, "case_happened")
        if tracker.get_slot("contact_phone") == NO_PHONE and "wants_reply" in slots:
            slots.remove("wants_reply")  # no number, no reply: nothing to ask
        return slots

    @staticmethod
    def _asked(tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot("requested_slot") == slot and not is_interruption(tracker)

    @classmethod
    def _free_text(cls, tracker: Tracker, slot: str) -> str:
        """The message as the answer to a free-text question, unless it is really a number."""
        text = latest_text(tracker)
        return text if cls._asked(tracker, slot) and text and not mostly_digits(text) else ""

    async def extract_case_description(self, dispatcher, tracker, domain) -> dict:
        if self._free_text(tracker, "case_description"):
            return {"case_description": self._free_text(tracker, "case_description")}
        return {}

    def _entity_or_answer(self, tracker: Tracker, slot: str, entity_name: str) -> dict:
        """A place or time: from the entity wherever it is said, or as the answer when asked
        ("没有" / "不知道" when there is none)."""
        value = entity(tracker, entity_name)
        if self._asked(tracker, slot):
            # the citizen's own words are the answer ("幸福路12号在建工地，幸福家园小区东边"), the
            # recognised place or time inside them is not a replacement for them
            if latest_intent(tracker) == "deny" and not value:
                return {slot: NOT_SAID}
            if self._free_text(tracker, slot):
                return {slot: self._free_text(tracker, slot)}
        if value and not tracker.get_slot(slot):
            return {slot: value}
        return {}

    async def extract_case_location(self, dispatcher, tracker, domain) -> dict:
        return self._entity_or_answer(tracker, "case_location", "location")

    async def extract_case_happened(self, dispatcher, tracker, domain) -> dict:
        return self._entity_or_answer(tracker, "case_happened", "time")

    async def extract_contact_phone(self, dispatcher, tracker, domain) -> dict:
        value = entity(tracker, "phone")
        if value and not tracker.get_slot("contact_phone"):
            return {"contact_phone": value}
        if not self._asked(tracker, "contact_phone"):
            return {}
        intent = latest_intent(tracker)
        caller = metadata(tracker).get("caller_number") or ""
        if intent == "affirm" and caller:
            return {"contact_phone": caller}
        if intent == "deny" and not digits_only(latest_text(tracker)):
            return {"contact_phone": NO_PHONE}
        digits = digits_only((tracker.latest_message or {}).get("text") or "")
        return {"contact_phone": digits or "?"}

    async def extract_contact_name(self, dispatcher, tracker, domain) -> dict:
        if latest_intent(tracker) == "anonymous":
            return {"contact_name": ANONYMOUS}
        value = entity(tracker, "person_name")
        if value and not tracker.get_slot("contact_name"):
            return {"contact_name": value}
        if self._asked(tracker, "contact_name"):
            if latest_intent(tracker) == "deny":
                return {"contact_name": ANONYMOUS}
            name = _NAME_PREFIX.sub("", self._free_text(tracker, "contact_name")).strip("。，, ")
            if name:
                return {"contact_name": name[:20]}
        return {}

    async def extract_wants_reply(self, dispatcher, tracker, domain) -> dict:
        if self._asked(tracker, "wants_reply"):
            intent = latest_intent(tracker)
            if intent in ("affirm", "deny"):
                return {"wants_reply": "yes" if intent == "affirm" else "no"}
            dispatcher.utter_message(text=say(tracker, "case.answer_reply"))
            return {"wants_reply": None}
        return {}

    async def validate_case_description(self, value: Any, dispatcher, tracker, domain) -> dict:
        text = str(value or "").strip()
        if len(text) < 5:
            dispatcher.utter_message(response="utter_description_too_short")
            return {"case_description": None}
        result: dict = {"case_description": text[:5000]}
        if not tracker.get_slot("case_category"):
            for event in await category_events(text + " " + (tracker.get_slot("case_location") or ""),
                                               language(tracker)):
                result[event["name"]] = event["value"]
        return result

    async def validate_contact_phone(self, value: Any, dispatcher, tracker, domain) -> dict:
        if value == NO_PHONE:
            dispatcher.utter_message(text=say(tracker, "case.no_phone"))
            return {"contact_phone": NO_PHONE, "wants_reply": "no"}
        phone = normalize_phone(str(value or ""))
        if not is_phone(phone):
            dispatcher.utter_message(response="utter_bad_phone")
            return {"contact_phone": None}
        return {"contact_phone": phone}


class AskSlot(Action):
    """Asks for one slot, in words that suit the channel (a `response` of domain.yml has its
    phone wording as a `channel: voice` variation)."""
    slot = ""
    text = ""  # a key of the bot's sentences (bot.<text> in hotline/locales)
    response = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    def prompt(self, tracker: Tracker) -> str:
        return say(tracker, self.text)

    async def run(self, dispatcher, tracker, domain) -> list:
        if self.response:
            dispatcher.utter_message(response=self.response)
        else:
            dispatcher.utter_message(text=self.prompt(tracker))
        return []


class AskDescription(AskSlot):
    slot = "case_description"
    # the prompt by kind; each response has its phone wording as a `channel: voice` variation
    BY_KIND = {Kind.MAYOR_MAILBOX.value: "utter_prompt_description_mayor",
               Kind.PRAISE.value: "utter_prompt_description_praise",
               Kind.SUGGESTION.value: "utter_prompt_description_suggestion"}

    async def run(self, dispatcher, tracker, domain) -> list:
        dispatcher.utter_message(response=self.BY_KIND.get(tracker.get_slot("case_kind"), "utter_prompt_description"))
        return []


class AskLocation(AskSlot):
    slot = "case_location"
    response = "utter_prompt_case_location"


class AskHappened(AskSlot):
    slot = "case_happened"
    text = "case.ask_happened"


class AskPhone(AskSlot):
    slot = "contact_phone"

    def prompt(self, tracker):
        caller = metadata(tracker).get("caller_number") or ""
        if caller and is_phone(normalize_phone(caller)) and is_voice(tracker):
            return say(tracker, "case.ask_phone_caller_voice", caller=spell_digits(caller, True))
        if caller and is_phone(normalize_phone(caller)):
            return say(tracker, "case.ask_phone_caller", caller=caller)
        return say(tracker, "case.ask_phone")


class AskName(AskSlot):
    slot = "contact_name"
    response = "utter_prompt_contact_name"


class AskWantsReply(AskSlot):
    slot = "wants_reply"

    async def run(self, dispatcher, tracker, domain) -> list:
        dispatcher.utter_message(text=say(tracker, "case.ask_wants_reply"), buttons=[
            {"title": say(tracker, "case.reply_yes"), "payload": "/affirm"},
            {"title": say(tracker, "case.reply_no"), "payload": "/deny"}])
        return []


def _shown(tracker: Tracker, value: str) -> str:
    """A slot's value as the citizen reads it: the markers for "not said" and "anonymous" in their language."""
    return {NOT_SAID: say(tracker, "not_said"), ANONYMOUS: say(tracker, "anonymous")}.get(value, value)


def _summary(tracker: Tracker, category_name: str | None) -> str:
    voice = is_voice(tracker)
    phone = tracker.get_slot("contact_phone")

    def line(field: str, value: str) -> str:
        return say(tracker, "case.line", title=say(tracker, f"case.{field}"), value=value)

    lines = [line("kind", kind_label(tracker.get_slot("case_kind"), language(tracker)))]
    if category_name:
        lines.append(line("category", category_name))
    lines.append(line("description", tracker.get_slot("case_description")))
    for field, slot in (("location", "case_location"), ("happened", "case_happened"), ("name", "contact_name")):
        if tracker.get_slot(slot):
            lines.append(line(field, _shown(tracker, tracker.get_slot(slot))))
    lines.append(line("phone", say(tracker, "case.phone_none") if phone in (None, NO_PHONE) else spell_digits(phone, voice)))
    lines.append(line("wants_reply", say(tracker, "case.yes" if tracker.get_slot("wants_reply") == "yes" else "case.no")))
    return (say(tracker, "case.sep_voice") if voice else "\n").join(lines)


class ActionReadBackCase(Action):
    def name(self) -> str:
        return "action_read_back_case"

    async def run(self, dispatcher, tracker, domain) -> list:
        code = tracker.get_slot("case_category")
        name = None
        if code:
            cats = {c.code: c for c in await runtime().store.categories()}
            if code in cats:
                c = cats[code]
                name = f"{category_name(c.parent, tracker)}/{category_name(c, tracker)}" if c.parent \
                    else category_name(c, tracker)
        dispatcher.utter_message(text=say(tracker, "case.read_back") + "\n" + _summary(tracker, name))
        try:
            duplicate = await existing_case.find_duplicate(runtime().store, await _validated(tracker),
                                                           existing_case.Proof.of(tracker))
        except InvalidInput:
            duplicate = None
        if duplicate is None or not duplicate.owned:  # one not proven theirs is never mentioned
            # the category is offered for change at once: it is the one field the citizen did not say
            dispatcher.utter_message(response="utter_confirm_case", buttons=[{
                "title": say(tracker, "case.change_category"), "payload": '/correct{"correct_field": "case_category"}'}])
        else:  # this citizen's open case about the same matter: add to it, or file apart
            text, buttons = existing_case.offer(duplicate.case, is_voice(tracker), language(tracker), SEPARATE)
            dispatcher.utter_message(text=text, buttons=buttons)
        return []


def category_name(category, tracker: Tracker) -> str:
    """A category's name in the conversation's language (its Chinese one where it has no other)."""
    return category.name_en if language(tracker) == "en" and category.name_en else category.name


class ActionSubmitCase(Action):
    """Files the case; when the read-back found this citizen's open case about the same matter and
    the citizen confirmed, the new words go onto that case instead (action_read_back_case)."""

    def name(self) -> str:
        return "action_submit_case"

    async def run(self, dispatcher, tracker, domain) -> list:
        return await file_case(dispatcher, tracker, onto_existing=True)


def _case_data(tracker: Tracker) -> dict:
    phone = tracker.get_slot("contact_phone")
    meta = metadata(tracker)
    name = tracker.get_slot("contact_name")
    return {
        "kind": tracker.get_slot("case_kind") or Kind.COMPLAINT.value,
        "category": tracker.get_slot("case_category"),
        "category_confidence": tracker.get_slot("case_category_confidence"),
        "description": tracker.get_slot("case_description") or "",
        "location": "" if tracker.get_slot("case_location") == NOT_SAID else tracker.get_slot("case_location"),
        "happened": "" if tracker.get_slot("case_happened") == NOT_SAID else tracker.get_slot("case_happened"),
        "contact_name": "" if name == ANONYMOUS else name,
        "anonymous": name == ANONYMOUS,
        "contact_phone": "" if phone in (None, NO_PHONE) else phone,
        "contact_email": meta.get("email") or "",
        "wants_reply": tracker.get_slot("wants_reply") == "yes",
        "conversation_id": tracker.sender_id,
        "locale": language(tracker),
    }


async def _validated(tracker: Tracker):
    """The slots as a validated CaseInput (InvalidInput when something is missing)."""
    rt = runtime()
    chan = CHANNEL_OF.get(channel(tracker), Channel.WEBCHAT)
    return validate_case(_case_data(tracker), channel=chan, known_categories=await rt.store.category_codes())


async def file_case(dispatcher, tracker: Tracker, *, onto_existing: bool) -> list:
    """File the citizen's case, or with `onto_existing` add it to their likely duplicate, the open
    case told to them at the read-back; nothing the citizen said is dropped either way. A likely
    duplicate not proven theirs is not touched: the new case is flagged beside it for an agent."""
    rt = runtime()
    try:
        inp = await _validated(tracker)
    except InvalidInput as exc:
        log.warning("bot case refused by validation", extra={"fields": {"errors": list(exc.errors)}})
        dispatcher.utter_message(text=say(tracker, "case.incomplete"))
        return [FollowupAction("action_handoff")]
    voice = is_voice(tracker)
    duplicate = await existing_case.find_duplicate(rt.store, inp, existing_case.Proof.of(tracker))
    if onto_existing:
        existing = await existing_case.add_to_duplicate(rt.store, duplicate, inp, tracker.sender_id)
        if existing is not None:
            await rt.conversations.add_case(tracker.sender_id, channel(tracker), existing.number)
            await rt.publish("case_supplemented", {"number": existing.number, "conversation": tracker.sender_id})
            dispatcher.utter_message(text=existing_case.added_text(existing, voice, inp.locale),
                                     json_message={"case": {"number": existing.number, "supplemented": True}})
            return reset(*CASE_SLOTS) + [SlotSet("last_case_number", existing.number), SlotSet("did_business", True)]
    case, password = await rt.store.create_case(inp, BOT)
    if duplicate is not None and not duplicate.owned:
        await case_links.flag_suspected(rt.store, case, duplicate.case, channel=inp.channel.value)
    await rt.conversations.add_case(tracker.sender_id, channel(tracker), case.number)
    await rt.publish("case_created", {"number": case.number, "conversation": tracker.sender_id})
    days = rt.store.calendar.working_days_for(case.kind, case.urgency)
    deadline = case.deadline.astimezone(rt.store.calendar.tz).strftime(say(tracker, "case.deadline_format")) \
        if case.deadline else ""
    dispatcher.utter_message(
        text=(say(tracker, "case.filed", kind=_kind_in_text(case.kind, tracker),
                  number=spell_digits(case.number, voice), password=spell_digits(password, voice))
              + (say(tracker, "case.filed_deadline", days=days, deadline=deadline) if case.wants_reply and deadline else "")
              + (say(tracker, "case.filed_repeat_voice") if voice else "")),
        json_message={"case": {"number": case.number, "password": password}})
    return reset(*CASE_SLOTS) + [SlotSet("last_case_number", case.number), SlotSet("did_business", True)]


class ActionAskCorrection(Action):
    def name(self) -> str:
        return "action_ask_correction"

    async def run(self, dispatcher, tracker, domain) -> list:
        options = [("kind", "case_kind"), ("category", "case_category"), ("description", "case_description"),
                   ("location", "case_location"), ("happened", "case_happened"), ("phone", "contact_phone"),
                   ("name", "contact_name"), ("wants_reply", "wants_reply"), ("cancel", "cancel")]
        dispatcher.utter_message(text=say(tracker, "case.which_field"), buttons=[
            {"title": say(tracker, f"case.field_{t}"), "payload": f'/correct{{"correct_field": "{f}"}}'}
            for t, f in options])
        return []


class ActionCorrectCase(Action):
    """Clear the field the citizen wants to change and ask it again (kind: offer the kinds)."""

    def name(self) -> str:
        return "action_correct_case"

    async def run(self, dispatcher, tracker, domain) -> list:
        field = entity(tracker, "correct_field") or tracker.get_slot("correct_field")
        kind = entity(tracker, "kind")
        if kind in {k.value for k in Kind}:
            return [SlotSet("case_kind", kind), SlotSet("correct_field", None), FollowupAction("action_read_back_case")]
        category = entity(tracker, "category")
        if category and category in await runtime().store.category_codes():
            # the citizen's own choice: certain, and a training example once an agent keeps it
            return [SlotSet("case_category", category), SlotSet("case_category_confidence", 1.0),
                    SlotSet("correct_field", None), FollowupAction("action_read_back_case")]
        if field == "case_category":
            await self._offer_categories(dispatcher, tracker)
            return [SlotSet("correct_field", None)]
        if field == SEPARATE:  # "another matter" after being told of an open case like it
            if not tracker.get_slot("case_description"):
                return [SlotSet("correct_field", None)]  # an old button: that case is already filed
            events = await file_case(dispatcher, tracker, onto_existing=False)
            if not any(e.get("event") == "followup" for e in events):
                dispatcher.utter_message(response="utter_anything_else")
            return events + [SlotSet("correct_field", None)]
        if field == "cancel":
            dispatcher.utter_message(response="utter_case_cancelled")
            return reset(*CASE_SLOTS) + [SlotSet("correct_field", None)]
        if field == "case_kind":
            dispatcher.utter_message(text=say(tracker, "case.choose_kind"), buttons=[
                {"title": label(KIND_LABELS, k, language(tracker)), "payload": f'/correct{{"kind": "{k.value}"}}'}
                for k in Kind])
            return [SlotSet("correct_field", None)]
        if field in CASE_SLOTS:
            events = [SlotSet(field, None), SlotSet("correct_field", None)]
            if field == "case_description":
                events += [SlotSet("case_category", None), SlotSet("case_category_confidence", None)]
            return events + [FollowupAction("case_form")]
        return [FollowupAction("action_ask_correction")]

    @staticmethod
    async def _offer_categories(dispatcher, tracker) -> None:
        """The classifier's most likely categories for the description, then every top level."""
        guess = await runtime().categories.guess(tracker.get_slot("case_description") or "") \
            if language(tracker) == "zh" else None
        cats = {c.code: c for c in await runtime().store.categories()}
        offered = [(g.code, category_name(cats[g.code], tracker) if g.code in cats else g.name)
                   for g in (guess.alternatives if guess else [])]
        tops = [(code, category_name(c, tracker)) for code, c in cats.items() if c.parent is None]
        offered += [t for t in tops if t[0] not in {code for code, _ in offered}]
        dispatcher.utter_message(text=say(tracker, "case.choose_category"), buttons=[
            {"title": name, "payload": f'/correct{{"category": "{code}"}}'} for code, name in offered])
