"""Conversations in Rasa's events table (bot/tracker_store.py), on SQLite and PostgreSQL."""
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted, SlotSet, UserUttered

from bot.tracker_store import CachedSQLTrackerStore, events, newest_event

DOMAIN = Domain.from_dict({"slots": {"case_location": {"type": "text", "mappings": [{"type": "custom"}]}}})


async def new_store(services, shared=False):
    store = CachedSQLTrackerStore(DOMAIN, services.db, shared=shared)
    await store.create_table()
    return store


async def stored_rows(services, sender):
    async with services.db.read() as s:
        return (await s.execute(sa.select(events.c.type_name).where(events.c.sender_id == sender)
                                .order_by(events.c.id))).scalars().all()


async def test_each_turn_is_stored_once_and_survives_a_restart(services):
    store = await new_store(services)
    tracker = await store.get_or_create_tracker("c-restart")
    tracker.update(UserUttered("我要投诉", {"name": "complain", "confidence": 0.9}))
    tracker.update(SlotSet("case_location", "幸福小区"))
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing written twice
    rows = await stored_rows(services, "c-restart")
    assert len(rows) == len(tracker.events) and rows[-2:] == ["user", "slot"]
    again = await (await new_store(services)).retrieve("c-restart")  # a new process reads the table
    assert again.get_slot("case_location") == "幸福小区"
    assert again.latest_message.text == "我要投诉"
    assert "c-restart" in await store.keys()


async def test_an_events_table_made_before_gets_the_newest_event_index(services):
    # the table of an existing deployment has Rasa's indexes only: the next start adds ours
    await new_store(services)
    async with services.db.engine.begin() as conn:
        await conn.run_sync(lambda sync: newest_event.drop(sync))
    await new_store(services)
    await new_store(services)  # and a start that finds it leaves it
    async with services.db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: {i["name"] for i in sa.inspect(sync).get_indexes("events")})
    assert "ix_events_sender_id_id" in names
    # Rasa's index on sender_id alone is dropped: ours leads with sender_id and answers the same
    async with services.db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE INDEX ix_events_sender_id ON events (sender_id)"))
    await new_store(services)
    async with services.db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: {i["name"] for i in sa.inspect(sync).get_indexes("events")})
    assert "ix_events_sender_id_id" in names and "ix_events_sender_id" not in names


async def test_shared_store_sees_what_another_process_wrote(services):
    first, second = await new_store(services, shared=True), await new_store(services, shared=True)
    tracker = await first.get_or_create_tracker("c-shared")
    await first.save(tracker)
    seen = await second.retrieve("c-shared")  # cached in the second process from here on
    tracker.update(SlotSet("case_location", "人民路"))
    await first.save(tracker)
    assert (await second.retrieve("c-shared")).get_slot("case_location") == "人民路"
    assert seen is not None
    # the writer knows the newest row it wrote (PostgreSQL: from the INSERT's RETURNING), so its own
    # cached tracker is used as it is, not loaded again; rows are in the order of the events
    assert await first.retrieve("c-shared") is tracker
    tracker.update(UserUttered("还有", {"name": "inform", "confidence": 0.9}))
    tracker.update(SlotSet("case_location", "解放路"))
    await first.save(tracker)
    assert await first.retrieve("c-shared") is tracker
    assert (await stored_rows(services, "c-shared"))[-3:] == ["slot", "user", "slot"]
    assert (await second.retrieve("c-shared")).get_slot("case_location") == "解放路"


async def test_only_the_latest_session_is_loaded_but_the_full_history_is_kept(services):
    store = await new_store(services)
    tracker = await store.get_or_create_tracker("c-sessions")
    tracker.update(UserUttered("第一次", {"name": "greet", "confidence": 1.0}))
    await store.save(tracker)
    tracker.update(SessionStarted(timestamp=tracker.events[-1].timestamp + 1))
    later = tracker.events[-1].timestamp + 2
    tracker.update(UserUttered("第二次", {"name": "greet", "confidence": 1.0}, timestamp=later))
    await store.save(tracker)
    store.forget("c-sessions")
    latest = await store.retrieve("c-sessions")
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["第二次"]
    full = await store.retrieve_full_tracker("c-sessions")
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["第一次", "第二次"]


async def test_the_lock_brings_the_newest_event_id_so_a_cached_turn_asks_the_database_nothing(services):
    """Two processes share a conversation through the Redis lock (real Redis): the lock carries the
    newest stored event id, so a turn whose tracker is cached and current is one INSERT; a turn
    after another process wrote reloads; a holder that dies mid-turn leaves no id, so the next asks
    the database."""
    from bot.engine import lock_store_for
    from conftest import REDIS_SERVER, redis_namespace

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    sa.event.listen(services.db.engine.sync_engine, "before_cursor_execute", count)
    with redis_namespace("newest") as (prefix, sync):
        locks = lock_store_for(REDIS_SERVER, prefix)
        first, second = await new_store(services, shared=True), await new_store(services, shared=True)
        sender = "c-newest"

        async def turn(store, slot_value):
            async with locks.lock(sender):
                tracker = await store.get_or_create_tracker(sender)
                tracker.update(SlotSet("case_location", slot_value))
                await store.save(tracker)
                return tracker

        await turn(first, "一")
        await turn(second, "二")   # the second process loads it, and writes after the first
        newest = int(sync.get(f"{prefix}newest:{sender}"))
        async with services.db.read() as s:
            assert newest == (await s.execute(sa.select(sa.func.max(events.c.id)))).scalar()
        statements.clear()
        tracker = await turn(second, "三")  # cached and current: the INSERT alone
        assert statements == ["INSERT"] or services.db.sqlite
        assert (await turn(first, "四")).get_slot("case_location") == "四"  # reloaded: saw 二 and 三
        assert [e.value for e in (await first.retrieve(sender)).events if isinstance(e, SlotSet)] == \
            ["一", "二", "三", "四"]
        assert tracker is not None

        # a holder that dies after writing, before releasing: no id is left behind it
        class Died(Exception):
            pass

        try:
            async with locks.lock(sender):
                tracker = await first.retrieve(sender)
                tracker.update(SlotSet("case_location", "五"))
                await first.save(tracker)
                sync.delete(f"{prefix}lock:{sender}")  # its lock expired meanwhile (as after kill -9)
                raise Died
        except Died:
            pass
        assert sync.get(f"{prefix}newest:{sender}") is None
        statements.clear()
        assert (await turn(second, "六")).get_slot("case_location") == "六"
        assert [e.value for e in (await second.retrieve(sender)).events if isinstance(e, SlotSet)][-2:] == ["五", "六"]
        assert any(s == "SELECT" for s in statements)  # it asked the database, and reloaded
        await locks.redis.close()
    sa.event.remove(services.db.engine.sync_engine, "before_cursor_execute", count)
