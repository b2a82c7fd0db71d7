"""What custom actions reach at run time: the case store and the bot's own helpers.

rasa_sdk instantiates action classes itself, with no arguments, so the engine installs one
Runtime per process here before serving turns; actions call `runtime()` to get it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from cases.conversations import ConversationLog
from cases.knowledge import KnowledgeRepository
from cases.store import CaseStore

from .classify import CategoryClassifier
from .knowledge import KnowledgeBase

log = logging.getLogger("hotline.bot")


@dataclass
class Runtime:
    store: CaseStore
    conversations: ConversationLog
    knowledge: KnowledgeBase
    categories: CategoryClassifier
    timezone: str = "Asia/Shanghai"
    # called with (event name, payload) for hand-offs, so the desk and channels can react
    listeners: list[Callable[[str, dict], Awaitable[None]]] = field(default_factory=list)
    # by channel name: can a person take the conversation now? (the phone: a free member of the
    # Asterisk queue). A channel without a check queues every hand-off.
    agent_checks: dict[str, Callable[[], Awaitable[bool | None]]] = field(default_factory=dict)
    # by channel name: is anyone on duty to take a hand-off at all (the chats: an agent or supervisor
    # with the desk open, channels/desk/live.py)? False: the citizen is told so, with the hours
    # below, instead of waiting in a queue nobody works. A channel without a check queues.
    duty_checks: dict[str, Callable[[], Awaitable[bool | None]]] = field(default_factory=dict)
    agent_hours: str = ""  # when people answer the chat (setting agent_hours), told with it

    @classmethod
    def build(cls, store: CaseStore, timezone: str) -> "Runtime":
        repo = KnowledgeRepository(store.db)
        return cls(store, ConversationLog(store.db), KnowledgeBase(repo), CategoryClassifier(repo), timezone)

    async def agents_free(self, channel: str) -> bool | None:
        """True or False where the channel can tell, None where it cannot (or its check failed)."""
        return await _ask(self.agent_checks, channel)

    async def agents_on_duty(self, channel: str) -> bool | None:
        return await _ask(self.duty_checks, channel)

    async def publish(self, event: str, payload: dict) -> None:
        for listener in list(self.listeners):
            await listener(event, payload)


async def _ask(checks: dict, channel: str) -> bool | None:
    check = checks.get(channel)
    if check is None:
        return None
    try:
        return await check()
    except Exception as exc:  # the hand-off then goes ahead as it would without a check
        log.warning("agent availability unknown", extra={"fields": {"channel": channel, "error": str(exc)[:200]}})
        return None


_current: Runtime | None = None


def install(rt: Runtime) -> None:
    global _current
    _current = rt


def runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the bot runtime is not installed (start the engine first)")
    return _current
