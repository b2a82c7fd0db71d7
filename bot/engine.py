"""The one dialogue engine: a trained Rasa model loaded in-process, serving turns from every
channel concurrently, with custom actions run by rasa_sdk's executor in the same process.

Conversations live in Rasa's `events` table (the case database by default; `bot/tracker_store.py`)
and, when a lock store URL is set, are locked in Redis, so several gateway processes can share them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cases.store import CaseStore
from hotline.i18n import translate
from hotline.ratelimit import Limiter
from hotline.shared import DEFAULT_REDIS_PREFIX

from . import action_results, memoization_shortcut
from .graph_runner import SequentialGraphRunner
from .languages import LanguageRouter, load_others
from .nlu_batch import NluBatcher
from .normalize import normalize_text
from .parse_cache import MAX_ENTRIES, ParseCache
from .runtime import Runtime, install
from .transcript import lines_from_events
from .turn_queue import TurnQueue
from .turns import LOCALES, Reply, Turn, TurnResult

log = logging.getLogger("hotline.bot")

MAX_TEXT = 5000          # the longest description a case takes
FLOOD_LIMIT = (20, 10.0)  # at most 20 messages per 10 s from one sender


def _rasa_endpoint_class():
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor
    from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

    class InProcessActionEndpoint(EndpointConfig):
        """Rasa calls `request()` to run a custom action; here it runs in this process."""

        def __init__(self):
            super().__init__(url="inprocess://actions", enable_selective_domain=True)
            self.executor = ActionExecutor()
            self.executor.register_package("bot.actions")
            self.domain: dict = {}

        async def request(self, method: str = "post", subpath=None, content_type="application/json",
                          compress: bool = False, **kwargs: Any) -> Any:
            call = dict(kwargs.get("json") or {})
            call["domain"] = self.domain  # computed once per model instead of once per action
            try:
                return await self.executor.run(call)
            except SdkRejection as exc:
                raise ActionExecutionRejection(exc.action_name, exc.message) from None

    return InProcessActionEndpoint


async def tracker_store_for(url: str, domain, store: CaseStore, *, shared: bool):
    """Conversations in Rasa's `events` table: in the case database unless `url` names another
    (`memory://`: kept in memory only, for tools that just parse)."""
    from rasa.core.tracker_store import InMemoryTrackerStore

    from cases.db import Database

    from .tracker_store import CachedSQLTrackerStore

    if url == "memory://":
        return InMemoryTrackerStore(domain)
    tracker_store = CachedSQLTrackerStore(domain, Database(url) if url else store.db, shared=shared)
    await tracker_store.create_table()
    return tracker_store


def lock_store_for(url: str, prefix: str = DEFAULT_REDIS_PREFIX):
    """In-process locks, or Redis locks shared by every gateway process (bot/lock_store.py), their
    keys under `prefix` (setting redis_prefix)."""
    from rasa.core.lock_store import InMemoryLockStore

    from hotline.shared import redis_client

    from .lock_store import RedisTurnLockStore

    if not url:
        return InMemoryLockStore()
    if make_url(url).get_backend_name() not in ("redis", "rediss"):
        raise ValueError(f"setting 'lock_store_url': {url.split('://')[0]}:// is not Redis (redis://host:port/db)")
    return RedisTurnLockStore(redis_client(url, prefix), prefix=f"{prefix}lock:", newest_prefix=f"{prefix}newest:")


def load_agent(model: Path, lock_store_url: str = "", parse_cache_entries: int = MAX_ENTRIES,
               redis_prefix: str = DEFAULT_REDIS_PREFIX, english: Path | None = None):
    """Load the trained model (slow: TensorFlow builds its graphs) with in-process actions, and the
    English NLU that reads English messages for it (`english`, by default the one the current data
    trains beside the model: bot/training.py, bot/languages.py)."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from .training import english_model_path

    # Rasa logs every prediction at debug level through structlog unless told otherwise
    configure_structlog(logging.WARNING)
    action_results.install()
    memoization_shortcut.install()
    logging.getLogger("rasa").setLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # it announces its dictionary on stdout
    started = time.perf_counter()
    agent = Agent.load(str(model), action_endpoint=_rasa_endpoint_class()(),
                       lock_store=lock_store_for(lock_store_url, redis_prefix))
    agent.action_endpoint.domain = agent.domain.as_dict()  # computed once, not once per action
    agent.processor.graph_runner = SequentialGraphRunner(agent.processor.graph_runner)
    # None where it is turned off (0 entries) or the NLU reads the conversation
    agent.parse_cache = ParseCache.install(agent.processor, max_entries=parse_cache_entries) \
        if parse_cache_entries > 0 else None
    others = load_others(english if english is not None else english_model_path(Path(model).parent),
                         parse_cache_entries)
    agent.languages = LanguageRouter.install(agent.processor, others)
    agent.parse_caches = [c for c in [agent.parse_cache, *(p.parse_cache for p in others.values())] if c]
    log.info("bot model loaded", extra={"fields": {"model": Path(model).name,
                                                   "seconds": round(time.perf_counter() - started, 1)}})
    return agent


class Engine:
    def __init__(self, agent, store: CaseStore, tracker_store, *, timezone: str = "Asia/Shanghai",
                 turn_concurrency: int = 1, redis=None, redis_prefix: str = DEFAULT_REDIS_PREFIX):
        self.agent = agent
        self.runtime = Runtime.build(store, timezone)
        install(self.runtime)
        agent.tracker_store = agent.processor.tracker_store = tracker_store
        self._flood = Limiter("flood", *FLOOD_LIMIT, redis=redis, prefix=redis_prefix)  # a sender's turns may reach any process
        self._turns = TurnQueue(turn_concurrency)
        self.nlu = NluBatcher(agent.processor)
        self.parse_cache: ParseCache | None = getattr(agent, "parse_cache", None)  # Chinese
        self.parse_caches: list[ParseCache] = getattr(agent, "parse_caches", [])  # each language's (/metrics)
        self.locales = served_locales(agent)

    @classmethod
    async def create(cls, agent, store: CaseStore, *, tracker_store_url: str = "", shared: bool = False,
                     timezone: str = "Asia/Shanghai", turn_concurrency: int = 1, redis=None,
                     redis_prefix: str = DEFAULT_REDIS_PREFIX) -> "Engine":
        """An engine around a loaded agent; `shared`: other gateway processes serve the same
        conversations (a Redis lock store), so cached trackers are checked before use."""
        tracker_store = await tracker_store_for(tracker_store_url, agent.domain, store, shared=shared)
        return cls(agent, store, tracker_store, timezone=timezone, turn_concurrency=turn_concurrency, redis=redis,
                   redis_prefix=redis_prefix)

    @classmethod
    async def load(cls, model: Path, store: CaseStore, *, tracker_store_url: str = "", lock_store_url: str = "",
                   timezone: str = "Asia/Shanghai", turn_concurrency: int = 1,
                   parse_cache_entries: int = MAX_ENTRIES, redis=None,
                   redis_prefix: str = DEFAULT_REDIS_PREFIX) -> "Engine":
        agent = await asyncio.get_running_loop().run_in_executor(None, load_agent, model, lock_store_url,
                                                                 parse_cache_entries, redis_prefix)
        return await cls.create(agent, store, tracker_store_url=tracker_store_url, shared=bool(lock_store_url),
                                timezone=timezone, turn_concurrency=turn_concurrency, redis=redis,
                                redis_prefix=redis_prefix)

    async def parse(self, text: str) -> dict:
        """What the bot understands in a text, without a conversation (mail, `hotline parse`)."""
        from rasa.core.channels.channel import UserMessage

        parsed = await self.nlu.parse(UserMessage(normalize_text(text)))
        # each entity once: DIET and the regex extractor often both find the same phone number
        seen: dict = {}
        for e in parsed.get("entities") or []:
            seen.setdefault((e.get("entity"), str(e.get("value"))), e)
        parsed["entities"] = list(seen.values())
        return parsed

    async def handle(self, turn: Turn) -> TurnResult:
        from rasa.core.channels.channel import UserMessage

        text = turn.text if turn.is_payload else normalize_text(turn.text)
        locale = (turn.metadata or {}).get("locale")
        locale = locale if locale in self.locales else "zh"
        if not text:
            return TurnResult([Reply(translate(locale, "bot.empty"))])
        if len(text) > MAX_TEXT:
            return TurnResult([Reply(translate(locale, "bot.too_long", max=MAX_TEXT))])
        if await self._flood.hit(turn.sender_id):
            return TurnResult([Reply(translate(locale, "bot.flood"))])
        collector = channel_collector(turn.channel)
        message = UserMessage(text, collector, turn.sender_id, input_channel=turn.channel,
                              metadata=turn.metadata or None)
        try:
            # Rasa's agent.handle_message, with the queue inside the conversation's lock: a turn
            # queues for the CPU (first come, first served: interleaved turns would all finish late,
            # bot/turn_queue.py) once it holds its conversation, so waiting for the lock (a round
            # trip to Redis, or the same citizen's previous turn) never keeps the CPU idle
            async with self.agent.lock_store.lock(turn.sender_id), self._turns.turn():
                await self.agent.processor.handle_message(message)
        except Exception:
            # the cached tracker may hold events of the failed turn: the table is the truth
            getattr(self.agent.tracker_store, "forget", lambda _: None)(turn.sender_id)
            raise
        replies = [Reply(m.get("text") or "", m.get("buttons") or [], m.get("custom")) for m in collector.messages]
        paused = any(r.signal == "handoff" for r in replies)
        if not replies and not paused:
            paused = await self.is_paused(turn.sender_id)
        return TurnResult(replies, paused)

    def close(self) -> None:
        self.nlu.close()

    async def is_paused(self, sender_id: str) -> bool:
        tracker = await self.agent.tracker_store.retrieve(sender_id)
        return bool(tracker and tracker.is_paused())

    async def resume(self, sender_id: str) -> None:
        """An agent hands the conversation back: the bot answers again from the next message."""
        from rasa.shared.core.events import ActionExecuted, ConversationResumed

        async with self.agent.lock_store.lock(sender_id):
            tracker = await self.agent.tracker_store.get_or_create_tracker(sender_id)
            tracker.update(ConversationResumed())
            # as if the bot had just listened: the next message is predicted from a clean state
            tracker.update(ActionExecuted("action_listen"))
            await self.agent.tracker_store.save(tracker)
        await self.runtime.conversations.release(sender_id)
        await self.runtime.publish("handoff_released", {"conversation": sender_id})

    async def transcript(self, sender_id: str, *, current_session: bool = False) -> list[dict]:
        """The lines of a conversation as the citizen saw them (bot/transcript.py)."""
        tracker = await self.agent.tracker_store.retrieve(sender_id)
        if tracker is None:
            return []
        return lines_from_events((ev.as_dict() for ev in tracker.events), since_session_start=current_session)

    def session_expired(self, last_event_at: float) -> bool:
        """Would the next message begin a new Rasa session (the domain's session_expiration_time)?"""
        minutes = self.agent.domain.session_config.session_expiration_time
        return bool(minutes) and time.time() - last_event_at > minutes * 60

    async def last_event_at(self, sender_id: str) -> float | None:
        tracker = await self.agent.tracker_store.retrieve(sender_id)
        return tracker.events[-1].timestamp if tracker and tracker.events else None


def served_locales(agent) -> tuple[str, ...]:
    """The languages an engine answers in (the channels say so for any other instead of answering
    in Chinese): those it has an NLU for (bot/languages.py) when its model has the `language` slot
    that picks the responses' English variations (bot/actions/language.py), else Chinese alone."""
    has_language = any(slot.name == "language" for slot in getattr(getattr(agent, "domain", None), "slots", []))
    router = getattr(agent, "languages", None)
    understood = router.locales if router is not None else ("zh",)
    return tuple(lang for lang in LOCALES if lang == "zh" or (has_language and lang in understood))


_COLLECTORS: dict[str, type] = {}


def channel_collector(channel: str):
    """Rasa's collecting output channel under the turn's channel name: Rasa picks a response's
    channel-specific variation (`channel: voice` in domain.yml) by the output channel's name."""
    from rasa.core.channels.channel import CollectingOutputChannel

    cls = _COLLECTORS.get(channel)
    if cls is None:
        cls = _COLLECTORS[channel] = type(f"{channel.title()}Collector", (CollectingOutputChannel,),
                                          {"name": classmethod(lambda c, _n=channel: _n)})
    return cls()
