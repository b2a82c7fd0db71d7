"""What custom actions reach at run time: the case store and the bot's own helpers.

rasa_sdk instantiates action classes itself, with no arguments, so the engine installs one
Runtime per process here before serving turns; actions call `runtime()` to get it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from cases.conversations import ConversationLog
from cases.knowledge import KnowledgeRepository
from cases.store import CaseStore

from .classify import CategoryClassifier
from .knowledge import KnowledgeBase


@dataclass
class Runtime:
    store: CaseStore
    conversations: ConversationLog
    knowledge: KnowledgeBase
    categories: CategoryClassifier
    timezone: str = "Asia/Shanghai"
    # called with (event name, payload) for hand-offs, so the desk and channels can react
    listeners: list[Callable[[str, dict], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    def build(cls, store: CaseStore, timezone: str) -> "Runtime":
        repo = KnowledgeRepository(store.db)
        return cls(store, ConversationLog(store.db), KnowledgeBase(repo), CategoryClassifier(repo), timezone)

    async def publish(self, event: str, payload: dict) -> None:
        for listener in list(self.listeners):
            await listener(event, payload)


_current: Runtime | None = None


def install(rt: Runtime) -> None:
    global _current
    _current = rt


def runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the bot runtime is not installed (start the engine first)")
    return _current
