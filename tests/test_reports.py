"""Reports against a history whose every figure is worked out by hand (tests/report_fixture.py), on
SQLite and PostgreSQL: volumes, traffic, workload, quality, hot spots, 同比/环比/any two periods,
empty periods, conditions, the local day across the UTC boundary, and bad input."""
from __future__ import annotations

import datetime as dt

import pytest

import report_fixture
from cases.db import make_sync_engine
from cases.reports import (Period, ReportFilter, ReportInputError, refresh_summaries,
                           run_report)

NOV = Period.month(2026, 11)
USERS = [("agent1", "agent", None, "1024"), ("agent2", "agent", None, "1025"),
         ("dept1", "department", "zjj", None), ("dept2", "department", "sthjj", None)]


@pytest.fixture
async def history(services, db_url):
    for username, role, dept, agent_no in USERS:
        await services.accounts.create_user(username, "secret-pass-1", role, department_code=dept,
                                            agent_no=agent_no, display_name=username)
    report_fixture.load(db_url)
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        refresh_summaries(conn, calendar=services.store.calendar)
    with engine.connect() as conn:
        def run(name, period=NOV, **kwargs):
            kwargs.setdefault("as_of", report_fixture.AS_OF)
            kwargs.setdefault("calendar", services.store.calendar)
            return run_report(conn, name, period, **kwargs)
        yield run
    engine.dispose()


def by_label(table) -> dict[str, dict]:
    return {r["label"]: r for r in table.all_rows()}


def totals(table, key="total") -> dict[str, int]:
    return {r["label"]: r[key] for r in table.rows}


async def test_volume_by_each_dimension(history):
    kind = history("volume", by="kind").table
    assert totals(kind) == {"投诉": 3, "咨询": 1, "举报": 1}
    assert kind.total["total"] == 5
    assert totals(history("volume", by="channel").table) == {"电话人工": 3, "电话自助": 1, "网上聊天": 1}
    assert totals(history("volume", by="status").table) == {"当场答复": 1, "已派单": 2, "已退回": 1, "已回访": 1}
    dept = history("volume", by="department").table
    assert [(r["label"], r["total"]) for r in dept.rows] == [
        ("市住房和城乡建设局", 2), ("市生态环境局", 2), ("（未派单）", 1)]  # ties: by name
    top = history("volume", by="category_top").table
    assert totals(top) == {"城乡建设": 3, "环境保护": 2}


async def test_two_level_categories_with_subtotals(history):
    t = history("volume", by="category").table
    assert [(r["label"], r["total"], bool(r.get("subtotal"))) for r in t.rows] == [
        ("城乡建设 小计", 3, True), ("物业管理", 3, False), ("环境保护 小计", 2, True), ("噪声污染", 2, False)]
    assert t.total["total"] == 5  # subtotals are not counted twice


async def test_local_days_weeks_and_months(history):
    days = history("volume", by="date", granularity="day").table
    counts = {r["label"]: r["count"] for r in days.rows}
    assert len(counts) == 30 and sum(counts.values()) == 5
    # 2026-10-31T16:30Z is 1 November in Shanghai; 2026-11-30T15:59Z is still 30 November
    assert {d: n for d, n in counts.items() if n} == {"2026-11-01": 1, "2026-11-05": 1, "2026-11-10": 1,
                                                      "2026-11-20": 1, "2026-11-30": 1}
    weeks = history("volume", by="kind", granularity="week").table
    complaint = by_label(weeks)["投诉"]
    # 1 November is a Sunday: its week starts on Monday 26 October
    assert [complaint[w] for w in ("2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23",
                                   "2026-11-30")] == [1, 1, 0, 1, 0, 0]
    assert weeks.total["2026-11-30"] == 1  # the report filed 30 Nov 23:59
    months = history("volume", Period(dt.date(2026, 10, 1), dt.date(2027, 1, 1)), by="kind", granularity="month")
    assert months.table.total == {"label": "合计", "2026-10": 2, "2026-11": 5, "2026-12": 1, "total": 8}


async def test_year_on_year_and_month_on_month(history):
    yoy = history("volume", by="kind", compare="yoy")
    assert yoy.compare_period == Period.month(2025, 11)
    rows = by_label(yoy.comparison)
    assert rows["投诉"] == {"label": "投诉", "total": 3, "total__other": 1, "total__change": 2, "total__pct": 2.0}
    assert rows["咨询"]["total__other"] == 0 and rows["咨询"]["total__pct"] is None  # nothing to grow from
    assert rows["合计"]["total__change"] == 4
    mom = history("volume", by="kind", compare="mom")
    assert mom.compare_period == Period.month(2026, 10)
    rows = by_label(mom.comparison)
    assert (rows["合计"]["total"], rows["合计"]["total__other"], rows["合计"]["total__pct"]) == (5, 2, 1.5)
    assert (rows["咨询"]["total__other"], rows["咨询"]["total__change"], rows["咨询"]["total__pct"]) == (1, 0, 0.0)
    custom = history("volume", by="kind", compare="custom", compare_with=Period.month(2026, 10))
    assert custom.comparison.all_rows() == mom.comparison.all_rows()


async def test_an_empty_period_counts_zero_and_has_no_rates(history):
    empty = Period.month(2020, 2)
    vol = history("volume", empty, by="kind", granularity="day")
    assert vol.table.rows == [] and vol.table.total["total"] == 0 and len(vol.table.columns) == 29 + 2
    quality = {r["code"]: r for r in history("quality", empty).table.rows}
    assert all(r["numerator"] == 0 and r["denominator"] == 0 and r["rate"] is None for r in quality.values())
    comp = history("volume", by="kind", compare="custom", compare_with=empty).comparison
    assert by_label(comp)["合计"] == {"label": "合计", "total": 5, "total__other": 0, "total__change": 5,
                                     "total__pct": None}
    assert history("departments", empty).table.rows == []
    assert history("traffic", empty, granularity="month").table.total["total"] == 0


async def test_traffic_from_conversations(history):
    t = history("traffic", granularity="month").table
    assert t.total == {"label": "合计", "calls": 3, "calls_self_served": 1, "calls_transferred": 2,
                       "calls_answered": 1, "calls_abandoned": 1, "chats": 1, "chats_transferred": 1, "mails": 1,
                       "other": 0, "total": 5}
    by_day = {r["label"]: r["calls"] for r in history("traffic", granularity="day").table.rows if r["calls"]}
    assert by_day == {"2026-11-01": 1, "2026-11-10": 1, "2026-11-15": 1}


async def test_agent_workload(history):
    rows = by_label(history("agents").table)
    assert {k: rows["1024"][k] for k in ("register", "answer", "dispatch", "follow_up", "remind", "calls",
                                          "chats", "talk")} == dict(register=2, answer=1, dispatch=2, follow_up=0,
                                                                     remind=0, calls=1, chats=0, talk=300)
    assert {k: rows["1025"][k] for k in ("register", "dispatch", "follow_up", "remind", "calls", "chats")} == \
        dict(register=1, dispatch=1, follow_up=2, remind=2, calls=0, chats=1)
    assert rows["1024"]["name"] == "agent1"


async def test_department_workload_on_working_days(history):
    t = history("departments").table
    rows = by_label(t)
    keys = ("received", "signed", "signed_on_time", "replied", "replied_on_time", "overdue", "returned", "extended")
    assert {k: rows["市住房和城乡建设局"][k] for k in keys} == dict(
        received=2, signed=2, signed_on_time=1, replied=1, replied_on_time=1, overdue=1, returned=1, extended=0)
    # c2 was dispatched after hours on Thursday and signed on Monday: on time (the limit is the end of
    # the next working day after Friday); c4 was never signed
    assert {k: rows["市生态环境局"][k] for k in keys} == dict(
        received=2, signed=1, signed_on_time=1, replied=1, replied_on_time=0, overdue=2, returned=0, extended=1)
    assert t.total["received"] == 4 and t.total["sign_rate"] == 0.5


async def test_quality_rates(history):
    q = {r["code"]: (r["numerator"], r["denominator"], r["rate"]) for r in history("quality").table.rows}
    assert q["satisfied_rate"] == (1, 2, 0.5)
    assert q["average_rate"] == (0, 2, 0.0)
    assert q["dissatisfied_rate"] == (1, 2, 0.5)
    assert q["on_time_rate"] == (2, 2, 1.0)
    assert q["closure_rate"] == (2, 5, 0.4)
    assert q["reminder_rate"] == (2, 5, 0.4)
    assert q["reopen_rate"] == (1, 3, pytest.approx(1 / 3))
    assert q["answer_rate"] == (2, 3, pytest.approx(2 / 3))
    assert q["self_service_rate"] == (2, 5, 0.4)
    assert "conversation_satisfied_rate" not in q  # a service rating: the 服务评价 report (test_ratings.py)
    yoy = by_label(history("quality", compare="yoy").comparison)
    # Nov 2025: one case, rated 一般: satisfied 0 of 1
    assert (yoy["满意率"]["rate"], yoy["满意率"]["rate__other"], yoy["满意率"]["rate__change"]) == (0.5, 0.0, 0.5)


async def test_top_categories_and_hot_spots(history):
    top = history("top_categories").table.rows
    assert [(r["label"], r["count"], r["share"]) for r in top] == [("城乡建设/物业管理", 3, 0.6),
                                                                  ("环境保护/噪声污染", 2, 0.4)]
    spots = history("hot_spots").table.rows
    assert [(r["label"], r["count"], r["share"]) for r in spots] == [("幸福小区东门", 2, 0.4), ("人民公园南门", 1, 0.2)]


@pytest.mark.parametrize("flt, expected", [
    (ReportFilter(kinds=("complaint",)), 3),
    (ReportFilter(category="hjbh"), 2),          # a top-level code includes its children
    (ReportFilter(category="cxjs.wygl"), 3),
    (ReportFilter(channels=("phone_agent",)), 3),
    (ReportFilter(department="zjj"), 2),
    (ReportFilter(agent="1024"), 2),             # cases agent 1024 registered
    (ReportFilter(agent="agent2", kinds=("complaint",)), 1),
])
async def test_conditions(history, flt, expected):
    assert history("volume", by="kind", report_filter=flt).table.total["total"] == expected


async def test_conditions_reach_workload(history):
    rows = history("agents", report_filter=ReportFilter(agent="1025")).table.rows
    assert [r["label"] for r in rows] == ["1025"]
    dept = history("departments", report_filter=ReportFilter(department="zjj")).table
    assert [r["label"] for r in dept.rows] == ["市住房和城乡建设局"]


@pytest.mark.parametrize("call, field", [
    (lambda h: h("volume", report_filter=ReportFilter(department="nope")), "department"),
    (lambda h: h("volume", report_filter=ReportFilter(category="nope")), "category"),
    (lambda h: h("volume", report_filter=ReportFilter(agent="9999")), "agent"),
    (lambda h: h("volume", by="colour"), "by"),
    (lambda h: h("volume", granularity="hour"), "granularity"),
    (lambda h: h("nope"), "report"),
    (lambda h: h("volume", compare="custom"), "compare"),
    (lambda h: h("volume", compare="decade"), "compare"),
])
async def test_bad_input_names_the_field(history, call, field):
    with pytest.raises(ReportInputError) as err:
        call(history)
    assert err.value.field == field


def test_bad_filter_values_are_refused_before_running():
    with pytest.raises(ReportInputError, match="kind"):
        ReportFilter(kinds=("gossip",))
    with pytest.raises(ReportInputError, match="channel"):
        ReportFilter(channels=("pigeon",))


async def test_local_days_across_daylight_saving_time(services, db_url):
    """A zone with DST (New York): SQLite gets one offset per stretch, PostgreSQL its zone database."""
    from cases.models import Case
    engine = make_sync_engine(db_url)
    times = ["2026-03-08T04:30:00Z",   # 7 Mar 23:30 EST
             "2026-03-08T07:30:00Z",   # 8 Mar 03:30 EDT (clocks went forward at 02:00)
             "2026-11-01T03:30:00Z",   # 31 Oct 23:30 EDT
             "2026-11-01T05:30:00Z",   # 1 Nov 01:30 EDT... the first 01:30
             "2026-11-01T06:30:00Z"]   # 1 Nov 01:30 EST, after clocks went back
    with engine.begin() as conn:
        for i, t in enumerate(times):
            conn.execute(Case.__table__.insert().values(
                number=f"26030800000{i}", password_hash="!", kind="complaint", title="t", description="d",
                channel="web", status="registered", created_at=report_fixture.utc(t),
                updated_at=report_fixture.utc(t), location="", happened="", contact_name="", contact_phone="",
                contact_email="", anonymous=False, wants_reply=True, urgency="normal", reply="", locale="zh"))
    with engine.connect() as conn:
        table = run_report(conn, "volume", Period(dt.date(2026, 3, 1), dt.date(2026, 11, 30)),
                           tz="America/New_York", by="date", granularity="day",
                           calendar=services.store.calendar).table
    engine.dispose()
    counts = {r["label"]: r["count"] for r in table.rows if r["count"]}
    assert counts == {"2026-03-07": 1, "2026-03-08": 1, "2026-10-31": 1, "2026-11-01": 2}


async def test_summary_follows_new_events_incrementally(history, db_url, services):
    """An event written after the first refresh reaches the figures after the next one, in both
    summaries; the watermarks stay behind events younger than SETTLE, which are summarized again
    next time."""
    from sqlalchemy import select

    from cases.models import Case, CaseEvent, ReportWatermark
    from cases.reports.facts import SETTLE

    def marks(conn):
        return dict(conn.execute(select(ReportWatermark.name, ReportWatermark.last_id)).all())

    assert by_label(history("departments").table)["市住房和城乡建设局"]["extended"] == 0
    engine = make_sync_engine(db_url)
    now = dt.datetime.now(dt.timezone.utc)
    refresh = lambda conn, at: refresh_summaries(conn, calendar=services.store.calendar, now=at)  # noqa: E731
    with engine.begin() as conn:
        before = marks(conn)
        c1 = conn.execute(select(Case.id).where(Case.number == "2611010000011")).scalar()
        conn.execute(CaseEvent.__table__.insert().values(
            case_id=c1, at=now, actor="user:dept1", channel="web", action="extend", comment="", public=False, data={}))
        assert refresh(conn, now)[:2] == (1, 1)               # the case, and the one day it was registered
        assert marks(conn) == before                           # too young to pass
        assert refresh(conn, now + SETTLE)[:2] == (1, 1)      # summarized again, then passed
        assert all(marks(conn)[name] > before[name] for name in ("case_flow", "daily"))
        assert refresh(conn, now + SETTLE)[:2] == (0, 0)
    engine.dispose()
    assert by_label(history("departments").table)["市住房和城乡建设局"]["extended"] == 1


COMPARED_REPORTS = [
    dict(name="volume", by=by, granularity=g, compare=c)
    for by in ("date", "kind", "category_top", "category", "channel", "department", "status")
    for g, c in (("day", "yoy"), ("week", "mom"), ("month", ""))
] + [dict(name=name, compare="mom") for name in ("departments", "quality", "top_categories", "hot_spots")] + [
    dict(name="traffic", granularity=g, compare="yoy") for g in ("day", "week", "month")] + [
    dict(name="traffic", report_filter=ReportFilter(channels=("phone_agent",))),
    dict(name="traffic", report_filter=ReportFilter(channels=("letter",))),
    dict(name="quality", report_filter=ReportFilter(kinds=("complaint",)))] + [
    # one condition: the summary answers from the condition's own rows or a department pair
    dict(name=name, report_filter=flt, **extra)
    for flt in (ReportFilter(kinds=("complaint", "consultation")), ReportFilter(channels=("phone_agent",)),
                ReportFilter(category="hjbh"), ReportFilter(category="cxjs.wygl"), ReportFilter(department="zjj"))
    for name, extra in (("departments", {}), ("quality", {}), ("top_categories", {}),
                        ("volume", {"by": "department", "granularity": "week"}), ("volume", {"by": "date"}))] + [
    # two conditions, or an agent's cases: read from the cases
    dict(name="departments", report_filter=ReportFilter(kinds=("complaint",), department="zjj")),
    dict(name="volume", by="kind", report_filter=ReportFilter(agent="1024"))] + [
    dict(name="agents", compare="yoy"), dict(name="agents", report_filter=ReportFilter(agent="1025")),
    dict(name="agents", report_filter=ReportFilter(kinds=("complaint",)))]

SUMMARY_ANSWERS = [  # (report grouped by, filter): what the daily summary answers itself
    (None, ReportFilter()), ("department", ReportFilter(kinds=("complaint",))),
    ("department", ReportFilter(category="hjbh")), ("category", ReportFilter(department="zjj")),
    ("kind", ReportFilter(department="zjj")),
    (None, ReportFilter(channels=("phone_agent",))), ("kind", ReportFilter(kinds=("complaint",)))]
SUMMARY_DECLINES = [("status", ReportFilter(department="zjj")), (None, ReportFilter(agent="1024")),
                    ("department", ReportFilter(kinds=("complaint",), department="zjj"))]


async def test_the_daily_summary_answers_what_it_holds_and_declines_the_rest(history, db_url, services):
    from zoneinfo import ZoneInfo

    from cases.reports import daily
    from cases.reports.base import Context
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        def ctx(flt):
            return Context(conn, NOV, ZoneInfo("Asia/Shanghai"), services.store.calendar, flt)
        assert all(daily.answer(ctx(flt), group) is not None for group, flt in SUMMARY_ANSWERS)
        assert all(daily.answer(ctx(flt), group) is None for group, flt in SUMMARY_DECLINES)
    engine.dispose()


async def test_the_daily_summary_gives_the_figures_the_cases_give(history):
    """Every report the daily summary can answer gives, figure for figure, what reading the cases
    gives (also over a quarter, where the fixture's cases sit in two months)."""
    for kwargs in COMPARED_REPORTS:
        for period in (NOV, Period(dt.date(2026, 9, 1), dt.date(2026, 12, 1))):
            fast, slow = history(period=period, **kwargs), history(period=period, summary=False, **kwargs)
            assert [t.all_rows() for t in fast.tables] == [t.all_rows() for t in slow.tables], kwargs


async def test_a_calendar_change_rebuilds_the_daily_summary(history, db_url, services):
    """A holiday added after the summary was built: the summary no longer answers (the live figures
    count with the new calendar) until a refresh rebuilds it under the new calendar."""
    from cases.calendar import WorkingCalendar
    from cases.reports import daily
    from cases.reports.base import Context
    from zoneinfo import ZoneInfo

    old = services.store.calendar
    cal = WorkingCalendar("Asia/Shanghai", "18:00", exceptions={**old.exceptions, dt.date(2026, 11, 3): False})
    engine = make_sync_engine(db_url)
    with engine.connect() as conn:
        assert daily.answer(Context(conn, NOV, ZoneInfo("Asia/Shanghai"), old), None)
        assert daily.answer(Context(conn, NOV, ZoneInfo("Asia/Shanghai"), cal), None) is None
    with engine.begin() as conn:  # a report request leaves the whole build to the background
        assert refresh_summaries(conn, calendar=cal, rebuild=False)[1] == 0
        assert daily.answer(Context(conn, NOV, ZoneInfo("Asia/Shanghai"), cal), None) is None
    with engine.begin() as conn:
        assert refresh_summaries(conn, calendar=cal)[1] > 0    # every day again
        assert daily.answer(Context(conn, NOV, ZoneInfo("Asia/Shanghai"), cal), None)
    engine.dispose()
    fast = history("departments", calendar=cal)
    slow = history("departments", calendar=cal, summary=False)
    assert fast.table.all_rows() == slow.table.all_rows()
