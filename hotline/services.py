"""The long-lived parts of one gateway process, built once from the settings and passed down."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cases.accounts import Accounts
from cases.calendar import WorkingCalendar
from cases.credentials import SecretHasher
from cases.db import Database
from cases.store import CaseStore

from .settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    store: CaseStore
    accounts: Accounts
    executor: ThreadPoolExecutor

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
                          settings.data_dir / "attachments", settings.attachment_max_bytes)
        await store.reload_calendar()
        accounts = Accounts(db, SecretHasher(settings.user_kdf_time_cost, settings.user_kdf_memory_kib, executor),
                            settings.api_token_ttl_s)
        return cls(settings, db, store, accounts, executor)

    async def close(self) -> None:
        await self.db.dispose()
        self.executor.shutdown(wait=False)
