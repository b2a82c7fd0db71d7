"""The turn contract every channel uses to talk to the bot.

In: who (sender id), which channel, what (text or a payload such as "/mayor_mailbox" from a key
press or a button), and metadata (caller number, email address, locale). Out: replies (text,
buttons, custom data) and signals the channel acts on: hand-off, hang-up, record-voicemail,
end-of-conversation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNALS = ("handoff", "hangup", "record_voicemail", "end_of_conversation")
# the languages the bot answers in (metadata "locale"); the channels refuse any other before the bot
LOCALES = ("zh", "en")


@dataclass
class Turn:
    sender_id: str
    channel: str
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_payload(self) -> bool:
        return self.text.startswith("/")


@dataclass
class Reply:
    text: str = ""
    buttons: list[dict] = field(default_factory=list)
    custom: dict[str, Any] | None = None

    @property
    def signal(self) -> str | None:
        value = (self.custom or {}).get("signal")
        return value if value in SIGNALS else None

    def as_rasa(self, recipient_id: str) -> dict:
        """The shape Rasa's REST channel returns, so existing Rasa clients work unchanged."""
        out: dict[str, Any] = {"recipient_id": recipient_id}
        if self.text:
            out["text"] = self.text
        if self.buttons:
            out["buttons"] = self.buttons
        if self.custom:
            out["custom"] = self.custom
        return out


@dataclass
class TurnResult:
    replies: list[Reply]
    paused: bool = False

    @property
    def signals(self) -> list[str]:
        return [r.signal for r in self.replies if r.signal]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies if r.text)
