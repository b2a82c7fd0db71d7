"""The conversation's language, from the channel's metadata of each message.

The web chat sends the page's language with every message and the REST channel takes it from
`metadata.locale`; the phone and mail say nothing and stay Chinese. The `language` slot it sets
picks the responses' English variations (bot/domain.yml) and the actions' sentences
(bot/actions/common.py: `say`). Rasa runs this at every message (the slot's custom mapping), so a
citizen who switches language mid-chat is answered in the new one from that message on.
"""
from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from bot.turns import LOCALES


class ActionSetLanguage(Action):
    def name(self) -> str:
        return "action_set_language"

    async def run(self, dispatcher, tracker, domain) -> list:
        wanted = ((tracker.latest_message or {}).get("metadata") or {}).get("locale")
        if wanted in LOCALES and wanted != tracker.get_slot("language"):
            return [SlotSet("language", wanted)]
        return []
