"""The history generator (benchmark and demo data): what it writes is consistent with the workflow,
the same rows reach PostgreSQL and SQLite, and the demo history is written once."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cases.db import make_sync_engine
from cases.models import Case, CaseEvent, Conversation, Handoff, ServiceRating
from cases.reports import Period, run_report
from cases.reports.generate import GENERATED_HASH, demo_history, generate
from cases.workflow import OPEN_STATUSES, Status

NOW = dt.datetime(2026, 11, 28, 4, tzinfo=dt.timezone.utc)


async def test_generated_history_follows_the_workflow(services, db_url):
    counts = generate(db_url, 1500, start=dt.date(2025, 11, 1), end=dt.date(2026, 11, 29), now=NOW, agents=5)
    assert counts["cases"] == 1500 and counts["events"] > 1500 * 3 and counts["conversations"] > 500
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        cases = conn.execute(sa.select(Case.id, Case.status, Case.created_at, Case.deadline, Case.replied_at,
                                       Case.closed_at, Case.department_id, Case.kind)).all()
        events = conn.execute(sa.select(CaseEvent.case_id, CaseEvent.at, CaseEvent.action, CaseEvent.to_status,
                                        CaseEvent.data)
                              .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)).all()
        ratings = conn.execute(sa.select(ServiceRating.conversation_id, ServiceRating.value)).all()
        rated = conn.execute(sa.select(Conversation.id, Conversation.satisfaction)
                             .where(Conversation.satisfaction.isnot(None))).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(Conversation)).scalar() == counts["conversations"]
        assert conn.execute(sa.select(sa.func.count()).select_from(Handoff)).scalar() == counts["handoffs"]
        # the case numbers are valid and unique
        numbers = conn.execute(sa.select(Case.number)).scalars().all()
        assert len(set(numbers)) == 1500
        report = run_report(conn, "volume", Period.month(2026, 10), by="kind", as_of=NOW,
                            calendar=services.store.calendar).table
    engine.dispose()
    by_case: dict[int, list] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    kinds = {c.kind for c in cases}
    assert {"consultation", "complaint"} <= kinds
    for c in cases:
        history = by_case[c.id]
        assert history[0].action == "register" and history[0].at == c.created_at
        assert all(e.at <= NOW for e in history)
        last_state = [e.to_status for e in history if e.to_status][-1]
        assert last_state == c.status, (c, history)           # the case is where its events left it
        assert c.deadline > c.created_at
        granted = [e for e in history if e.action == "extend"]
        if granted and not any(e.action in ("dispatch", "reopen") and e.at > granted[-1].at for e in history):
            # a granted 延期 moved the case's own deadline, asked for first by the department
            assert c.deadline == dt.datetime.fromisoformat(granted[-1].data["deadline"])
            assert [e.action for e in history].index("request_extend") < [e.action for e in history].index("extend")
        if c.status == Status.CLOSED.value:
            assert c.closed_at is not None
        if c.status in (Status.REPLIED.value, Status.FOLLOWED_UP.value, Status.ANSWERED.value):
            assert c.replied_at is not None
        if c.status in {s.value for s in OPEN_STATUSES} - {Status.REGISTERED.value}:
            assert c.department_id is not None
    assert report.total["total"] > 50  # a month of a 1,500-case year
    assert sorted(ratings) == sorted(rated) and ratings  # every rated conversation has its service rating


async def test_demo_history_is_written_once(services, db_url):
    assert demo_history(db_url, 200, days=60) == 200
    assert demo_history(db_url, 200, days=60) == 0
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Case)
                            .where(Case.password_hash == GENERATED_HASH)).scalar() == 200
        # no users were added: the demo's own staff work the cases
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 0
    engine.dispose()


async def test_the_daily_summary_agrees_with_the_cases_on_a_generated_year(services, db_url):
    """A year of generated history (returns, extensions, reminders, reopenings, signing on and
    after working days): the daily summary answers every long report with the figures the cases
    give, and keeps doing so after new events and an incremental refresh."""
    from cases.reports import refresh_summaries
    generate(db_url, 1500, start=dt.date(2025, 11, 1), end=dt.date(2026, 11, 29), now=NOW, agents=5)
    year = Period(dt.date(2025, 11, 1), dt.date(2026, 11, 1))
    reports = [("departments", {}), ("quality", {}), ("top_categories", {}), ("traffic", {"granularity": "week"}),
               ("agents", {}), ("hot_spots", {}),
               ("volume", {"by": "department", "granularity": "week"}),
               ("volume", {"by": "category", "granularity": "month"}), ("volume", {"by": "status"})]
    engine = make_sync_engine(db_url)
    cal = services.store.calendar

    def agree(conn):
        for name, kwargs in reports:
            for period in (year, Period.month(2026, 10)):
                fast = run_report(conn, name, period, as_of=NOW, calendar=cal, compare="mom", **kwargs)
                slow = run_report(conn, name, period, as_of=NOW, calendar=cal, compare="mom", summary=False,
                                  **kwargs)
                assert [t.all_rows() for t in fast.tables] == [t.all_rows() for t in slow.tables], (name, period)

    with engine.begin() as conn:
        refresh_summaries(conn, calendar=cal, now=NOW)
        agree(conn)
        # a reminder and a reply on an October case, a day later
        october = dt.datetime(2026, 10, 5, tzinfo=dt.timezone.utc)
        case_id, = conn.execute(sa.select(Case.id).where(Case.created_at >= october, Case.replied_at.is_(None))
                                .limit(1)).one()
        later = NOW + dt.timedelta(days=1)
        agent = conn.execute(sa.select(CaseEvent.user_id).where(CaseEvent.user_id.isnot(None)).limit(1)).scalar()
        conn.execute(CaseEvent.__table__.insert().values(case_id=case_id, at=later, actor="user:x", channel="web",
                                                         action="remind", comment="", public=False, data={},
                                                         user_id=agent))
        conn.execute(sa.update(Case).where(Case.id == case_id).values(replied_at=later, status=Status.REPLIED.value))
        conn.execute(CaseEvent.__table__.insert().values(case_id=case_id, at=later, actor="user:x", channel="web",
                                                         action="reply", comment="", public=True, data={}))
        # a rating and a hand-off taken in an October conversation that had none
        conv_id, = conn.execute(sa.select(Conversation.id).where(
            Conversation.started_at >= dt.datetime(2026, 10, 5, tzinfo=dt.timezone.utc),
            Conversation.satisfaction.is_(None), ~Conversation.id.in_(sa.select(Handoff.conversation_id)))
            .limit(1)).one()
        conn.execute(sa.update(Conversation).where(Conversation.id == conv_id).values(satisfaction=1, updated_at=later))
        conn.execute(Handoff.__table__.insert().values(conversation_id=conv_id, channel="voice", reason="asked",
                                                       summary={}, transcript=[], requested_at=later,
                                                       taken_at=later, released_at=later))
        _, days, conversation_days, agent_days = refresh_summaries(conn, calendar=cal, now=later)
        assert days >= 1 and conversation_days >= 2 and agent_days >= 1  # the case's, conversation's, hand-off's day
        agree(conn)
    engine.dispose()
