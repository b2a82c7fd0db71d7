"""The long-lived parts of one gateway process, built once from the settings and passed down."""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cases.accounts import Accounts
from cases.calendar import WorkingCalendar
from cases.credentials import SecretHasher
from cases.db import Database
from cases.store import CaseStore

from .logs import log_fields
from .settings import Settings

log = logging.getLogger("hotline")


@dataclass
class Services:
    settings: Settings
    db: Database
    store: CaseStore
    accounts: Accounts
    executor: ThreadPoolExecutor
    engine: Any = None  # bot.engine.Engine once a model is loaded; None: chat channels answer 503
    redis: Any = None   # redis.asyncio client when redis_url is set: what gateway processes share

    @classmethod
    async def create(cls, settings: Settings) -> "Services":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.ensure_secret_key()
        # hashing is CPU work that releases the GIL: one thread per core keeps both cores busy
        executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kdf")
        db = Database(settings.database_url)
        calendar = WorkingCalendar(settings.timezone, settings.workday_end)
        store = CaseStore(db, calendar,
                          SecretHasher(settings.case_kdf_time_cost, settings.case_kdf_memory_kib, executor),
                          settings.data_dir / "attachments", settings.attachment_max_bytes,
                          similar_window_days=settings.similar_window_days)
        await store.reload_calendar()
        accounts = Accounts(db, SecretHasher(settings.user_kdf_time_cost, settings.user_kdf_memory_kib, executor),
                            settings.api_token_ttl_s)
        redis = None
        if settings.redis_url:
            from .shared import redis_client
            redis = redis_client(settings.redis_url, settings.redis_prefix)
        return cls(settings, db, store, accounts, executor, redis=redis)

    async def start_bot(self) -> None:
        """Load (training first if the data changed) the dialogue model; voice, chat and mail need it."""
        from bot.engine import Engine
        from bot.training import ensure_model

        s = self.settings
        started = time.monotonic()
        log.info("bot: looking for the trained model (training first when the data changed)")
        model = await asyncio.get_running_loop().run_in_executor(None, ensure_model, s.bot_model_dir)
        log.info("bot: loading the model", extra=log_fields(model=str(model)))
        self.engine = await Engine.load(model, self.store, tracker_store_url=s.tracker_store_url,
                                        lock_store_url=s.lock_store_url, timezone=s.timezone,
                                        turn_concurrency=s.bot_turn_concurrency,
                                        parse_cache_entries=s.bot_parse_cache_entries, redis=self.redis,
                                        redis_prefix=s.redis_prefix)
        await self.engine.runtime.categories.load_model()  # the category classifier, with the staff's choices
        log.info("bot: ready", extra=log_fields(seconds=round(time.monotonic() - started, 1)))

    async def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.store.close()
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.close()
        self.executor.shutdown(wait=False)
