"""Where conversations live: Rasa's `events` table, written asynchronously, read through a cache.

Rasa's own SQLTrackerStore is synchronous (each query blocks the event loop every channel shares)
and rebuilds the whole tracker from its JSON rows on every message, several times per turn. Here:

- the table is Rasa's (`events`, same columns), so existing conversations and Rasa's tools still
  read it;
- writes go through the gateway's async engine, in one transaction per turn, and are committed
  before the reply leaves: a crash loses nothing the citizen was told; while a turn waits for its
  commit the next turn has the CPU (bot/turn_queue.py);
- trackers stay in a bounded in-memory cache after their first load, so a turn costs one INSERT
  instead of a full reload. With several gateway processes (`shared=True`, i.e. a Redis lock
  store) a cached tracker is first checked against the newest stored event id for that
  conversation, and reloaded when another process wrote after it. The conversation's lock brings
  that id along (bot/lock_store.py); the database is asked only where the lock does not know it.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Iterable, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from cases.db import Database

from .lock_store import newest_known, note_saved
from .turn_queue import leave_turn_queue

log = logging.getLogger("hotline.bot")

metadata = sa.MetaData()
# Rasa 3.6's SQLTrackerStore schema (rasa/core/tracker_store.py, SQLEvent), kept identical.
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)
# A turn's rows in one statement on PostgreSQL, their ids returned in the events' order. A text
# statement with one array per column is compiled once; SQLAlchemy compiles a multi-row VALUES
# insert again on every call (a twentieth of a gateway's CPU under load).
INSERT_ROWS = sa.text(
    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
    "SELECT :sender_id, t, s, i, a, d FROM unnest(CAST(:types AS varchar[]), CAST(:stamps AS float8[]), "
    "CAST(:intents AS varchar[]), CAST(:actions AS varchar[]), CAST(:datas AS text[])) "
    "WITH ORDINALITY AS r(t, s, i, a, d, n) ORDER BY n RETURNING id")
# not Rasa's: the newest event of a conversation read from the index alone, instead of fetching
# every row the conversation has to take their max. It leads with sender_id, so it also answers
# everything Rasa's own index on sender_id (ix_events_sender_id) did: that one is dropped, one
# index fewer to write for each of the ~10 events a turn stores.
newest_event = sa.Index("ix_events_sender_id_id", events.c.sender_id, events.c.id)
RASA_SENDER_INDEX = "ix_events_sender_id"


class _Entry:
    __slots__ = ("tracker", "stored", "last_id")

    def __init__(self, tracker: Optional[DialogueStateTracker], stored: int, last_id: int):
        self.tracker = tracker  # None: known to have no events yet
        self.stored = stored    # how many of tracker.events are in the table
        self.last_id = last_id  # the newest row id of this conversation when last seen


class CachedSQLTrackerStore(TrackerStore):
    def __init__(self, domain, db: Database, *, shared: bool = False, max_cached: int = 10000):
        super().__init__(domain)
        self.db = db
        self.shared = shared
        self.max_cached = max_cached
        self._cache: "OrderedDict[str, _Entry]" = OrderedDict()

    async def create_table(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        # create_all adds indexes only with a new table: an existing `events` table (Rasa's, or
        # ours before) gets ours here, then loses Rasa's
        try:
            async with self.db.engine.begin() as conn:
                await conn.run_sync(lambda sync: newest_event.create(sync, checkfirst=True))
            async with self.db.engine.begin() as conn:
                await conn.execute(sa.text(f"DROP INDEX IF EXISTS {RASA_SENDER_INDEX}"))
        except sa.exc.DBAPIError as exc:  # another gateway process did it at the same moment
            log.debug("events indexes not changed here", extra={"fields": {"error": str(exc)}})

    # ---- reading --------------------------------------------------------------------------
    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        entry = self._cache.get(sender_id)
        if entry is not None:
            if not self.shared or await self._newest(sender_id) == entry.last_id:
                self._cache.move_to_end(sender_id)
                return entry.tracker
        return await self._load(sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> Optional[DialogueStateTracker]:
        rows = await self._rows(conversation_id, all_sessions=True)
        return self._tracker_from(conversation_id, rows)

    async def keys(self) -> Iterable[str]:
        async with self.db.read() as s:
            return list((await s.execute(sa.select(events.c.sender_id).distinct())).scalars())

    def forget(self, sender_id: str) -> None:
        """Drop a conversation from the cache (after a failed turn: the table is the truth)."""
        self._cache.pop(sender_id, None)

    async def _load(self, sender_id: str) -> Optional[DialogueStateTracker]:
        rows = await self._rows(sender_id, all_sessions=False)
        tracker = self._tracker_from(sender_id, rows)
        last_id = rows[-1].id if rows else 0
        self._remember(sender_id, _Entry(tracker, len(rows), last_id))
        return tracker

    def _tracker_from(self, sender_id: str, rows) -> Optional[DialogueStateTracker]:
        if not rows:
            return None
        return DialogueStateTracker.from_dict(sender_id, [json.loads(r.data) for r in rows], self.domain.slots)

    async def _rows(self, sender_id: str, *, all_sessions: bool):
        query = sa.select(events.c.id, events.c.data).where(events.c.sender_id == sender_id)
        if not all_sessions:  # the latest session only, as Rasa's store does
            start = (sa.select(sa.func.max(events.c.timestamp))
                     .where(events.c.sender_id == sender_id, events.c.type_name == SessionStarted.type_name)
                     .scalar_subquery())
            query = query.where(sa.or_(start.is_(None), events.c.timestamp >= start))
        async with self.db.read() as s:
            return (await s.execute(query.order_by(events.c.id))).all()

    async def _newest(self, sender_id: str) -> int:
        known = newest_known(sender_id)
        return known if known is not None else await self._newest_id(sender_id)

    async def _newest_id(self, sender_id: str, session=None) -> int:
        query = sa.select(sa.func.max(events.c.id)).where(events.c.sender_id == sender_id)
        if session is not None:
            return (await session.execute(query)).scalar() or 0
        async with self.db.read() as s:
            return (await s.execute(query)).scalar() or 0

    # ---- writing --------------------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        entry = self._cache.get(sender_id)
        if entry is not None and (entry.tracker is tracker or entry.tracker is None):
            stored = entry.stored
        else:  # a tracker object the cache has not seen: count what is stored, as Rasa does
            stored = len(await self._rows(sender_id, all_sessions=False))
        new = list(tracker.events)[stored:]
        last_id = entry.last_id if entry else 0
        if new:
            rows = []
            for event in new:
                data = event.as_dict()
                rows.append({"sender_id": sender_id, "type_name": event.type_name,
                             "timestamp": data.get("timestamp"),
                             "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                             "action_name": data.get("name"), "data": json.dumps(data, ensure_ascii=False)})
            leave_turn_queue()  # the turn's CPU work is done: the next one runs while this commits
            try:
                # (a very long conversation saved whole goes the usual way: a statement's parameters are bounded)
                single = self.db.one_statement() if self.shared and len(rows) <= 1000 else None
                if single is not None:
                    # the turn's rows and their ids in one statement, committed by itself: one round
                    # trip instead of four (BEGIN, INSERT, the newest id, COMMIT); the conversation's
                    # lock keeps other processes' rows from coming between
                    async with single as conn:
                        ids = (await conn.execute(INSERT_ROWS, {
                            "sender_id": sender_id, "types": [r["type_name"] for r in rows],
                            "stamps": [r["timestamp"] for r in rows], "intents": [r["intent_name"] for r in rows],
                            "actions": [r["action_name"] for r in rows], "datas": [r["data"] for r in rows]})).scalars()
                        last_id = max(ids)
                else:
                    async with self.db.write() as s:
                        await s.execute(events.insert(), rows)
                        if self.shared:
                            last_id = await self._newest_id(sender_id, s)
            except Exception:
                self.forget(sender_id)
                note_saved(sender_id, None)  # committed or not: the next holder asks the database
                raise
            note_saved(sender_id, last_id)
        self._remember(sender_id, _Entry(tracker, stored + len(new), last_id))

    def _remember(self, sender_id: str, entry: _Entry) -> None:
        self._cache[sender_id] = entry
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
