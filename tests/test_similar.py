"""One matter, one case: the similar-case finder, linking and merging, on SQLite and PostgreSQL."""
import datetime as dt

import pytest
import sqlalchemy as sa

from cases import case_links
from cases.db import make_sync_engine
from cases.intake import InvalidInput, validate_case
from cases.models import Case, CaseEvent, CaseLink
from cases.place_text import normalize_place, place_similarity, places_in, search_terms
from cases.reports import Period, refresh_summaries, run_report
from cases.similar import Probe
from cases.store import Actor, Forbidden
from cases.workflow import Channel, IllegalTransition

NOISE = {"kind": "complaint", "description": "幸福路12号的工地每天半夜还在施工，电钻声音太吵了，孩子睡不着",
         "location": "幸福路12号", "contact_name": "王先生", "contact_phone": "13812345678",
         "category": "hjbh.zswr"}


def intake(**overrides):
    data = dict(NOISE)
    data.update(overrides)
    return validate_case(data, channel=overrides.pop("channel", Channel.WEB))


async def filed(services, **overrides):
    case, _ = await services.store.create_case(intake(**overrides))
    return case


async def staff(services, username, role, dept=None) -> Actor:
    user = await services.accounts.create_user(username, "long-password", role, department_code=dept)
    return Actor.for_user(user)


async def backdate(services, case, days):
    async with services.db.write() as s:
        await s.execute(sa.update(Case).where(Case.id == case.id).values(
            created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)))


# ---- comparing places and words -------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [("幸福路12号", "幸福路十二号附近"), ("雨花区幸福家园小区东门", "幸福家园小区东门口"),
                                  ("A3区魏家坡小区", "A市A3区魏家坡小区旁边"), ("光明路１０５号", "光明路一百零五号")])
def test_the_same_place_written_otherwise_is_the_same_place(a, b):
    assert place_similarity(places_in(a), places_in(b)) >= 0.75, (normalize_place(a), normalize_place(b))


@pytest.mark.parametrize("a, b", [("幸福路12号", "幸福路30号"), ("幸福路12号", "光明小区"), ("幸福超市", "和平超市")])
def test_other_places_are_not_the_same_place(a, b):
    assert place_similarity(places_in(a), places_in(b)) < 0.75


def test_a_place_named_only_in_the_words_is_found():
    assert places_in("", "我家在和平路88号旁边，工地天天半夜施工") == ["和平路88号"]


@pytest.mark.parametrize("place, terms", [("2号楼", []), ("我们小区2号楼楼下", []), ("小区", []),
                                          ("幸福小区12号楼", ["幸福小区"]), ("幸福家园3栋2单元", ["幸福家园"]),
                                          ("在光明路105号门口", ["光明路"])])
def test_only_names_are_looked_up_not_what_every_place_has(place, terms):
    # "号楼" would find most open cases: every look-up would read them all and match none
    assert search_terms(places_in(place)) == terms


# ---- the finder ------------------------------------------------------------------------------------
async def test_the_same_citizen_about_the_same_place_is_a_likely_duplicate(services):
    first = await filed(services)
    again = intake(description="还是那个工地，晚上十一点还在打桩，吵得没法睡", location="幸福路十二号附近",
                   channel=Channel.WEBCHAT)
    match = await services.store.similar.likely_duplicate(Probe.of_input(again))
    assert match is not None and match.case.id == first.id
    assert match.same_citizen and match.same_place and "citizen" in match.reasons


async def test_the_same_citizen_by_email_in_any_case_of_letters(services):
    first = await filed(services, contact_phone="", contact_email="Wang.Li@example.cn")
    again = intake(contact_phone="", contact_email="wang.li@example.cn", location="幸福路12号门口")
    match = await services.store.similar.likely_duplicate(Probe.of_input(again))
    assert match is not None and match.case.id == first.id


async def test_another_matter_of_the_same_citizen_is_listed_but_not_a_duplicate(services):
    first = await filed(services)
    other = intake(description="社区门口的路灯坏了一个多月了，晚上很黑", location="光明小区北门",
                   category="cxjs.szss")
    matches = await services.store.similar.find(Probe.of_input(other))
    assert [m.case.id for m in matches] == [first.id] and not matches[0].likely_duplicate
    assert await services.store.similar.likely_duplicate(Probe.of_input(other)) is None


async def test_another_citizen_at_the_same_place_is_similar_but_not_told(services):
    first = await filed(services)
    neighbour = intake(contact_phone="13900001111", contact_name="李女士", location="幸福路十二号",
                       description="幸福路12号工地夜间施工噪音扰民，已经持续一周")
    matches = await services.store.similar.find(Probe.of_input(neighbour))
    assert [m.case.id for m in matches] == [first.id]
    assert matches[0].same_place and not matches[0].same_citizen and not matches[0].likely_duplicate
    assert await services.store.similar.likely_duplicate(Probe.of_input(neighbour)) is None


async def test_another_citizen_at_the_same_place_about_something_else_is_not_listed(services):
    await filed(services)
    other = intake(contact_phone="13900002222", description="想咨询一下幸福路12号附近的小学怎么报名",
                   kind="consultation", category=None)
    assert await services.store.similar.find(Probe.of_input(other)) == []


async def test_closed_old_and_other_departments_cases_are_left_out(services):
    agent = await staff(services, "agent", "agent")
    first = await filed(services)
    first = await services.store.apply(first.number, "dispatch", agent, department_code="zjj")
    old = await filed(services, description="幸福路12号工地半夜施工噪音，上个月的事")
    await backdate(services, old, 45)
    probe = Probe.of_input(intake(location="幸福路十二号"))
    assert [m.case.id for m in await services.store.similar.find(probe)] == [first.id]
    departments = {d.code: d.id for d in await services.store.departments()}
    assert [m.case.id for m in await services.store.similar.find(probe, department_id=departments["zjj"])] == [first.id]
    assert await services.store.similar.find(probe, department_id=departments["sthjj"]) == []
    async with services.db.write() as s:  # archived: no longer similar
        await s.execute(sa.update(Case).where(Case.id == first.id).values(status="closed"))
    assert await services.store.similar.find(probe) == []


async def test_a_case_is_not_similar_to_itself(services):
    first = await filed(services)
    assert await services.store.similar.find(Probe.of_case(first)) == []
    second = await filed(services, channel=Channel.EMAIL, location="幸福路十二号")
    assert [m.case.id for m in await services.store.similar.find(Probe.of_case(second))] == [first.id]


async def test_window_is_a_setting(services_factory, db_url):
    services = await services_factory(db_url, similar_window_days=3)
    first = await filed(services)
    await backdate(services, first, 5)
    assert await services.store.similar.find(Probe.of_input(intake())) == []
    with pytest.raises(ValueError, match="similar_window_days"):
        type(services.store.similar)(services.db, 0)


# ---- adding an intake to its duplicate ----------------------------------------------------------------
async def test_an_intake_added_to_its_duplicate_keeps_every_word(services):
    first = await filed(services)
    again = intake(description="又来了，今晚还在施工", location="幸福路十二号", happened="今晚十一点",
                   channel=Channel.WEBCHAT)
    assert await case_links.add_intake_to(services.store, first, again, conversation="c-1") is not None
    [event] = [e for e in await services.store.events(first.id) if e.action == "supplement"]
    assert event.public and event.channel == "webchat" and event.data == {"intake": "webchat", "conversation": "c-1"}
    assert "又来了" in event.comment and "幸福路十二号" in event.comment and "今晚十一点" in event.comment
    async with services.db.read() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(Case))).scalar() == 1


async def test_a_case_no_longer_open_takes_no_intake(services):
    first = await filed(services)
    async with services.db.write() as s:
        await s.execute(sa.update(Case).where(Case.id == first.id).values(status="replied"))
    assert await case_links.add_intake_to(services.store, first, intake()) is None
    assert [e.action for e in await services.store.events(first.id)] == ["register"]


# ---- link and merge -------------------------------------------------------------------------------------
async def test_link_is_recorded_on_both_once(services):
    agent = await staff(services, "agent", "agent")
    a, b = await filed(services), await filed(services, contact_phone="13900001111")
    await case_links.link(services.store, a.number, b.number, agent, comment="同一工地")
    await case_links.link(services.store, b.number, a.number, agent)  # again, either way: nothing new
    assert [(x.case.number, x.kind) for x in await case_links.linked(services.store, a)] == [(b.number, "related")]
    assert [(x.case.number, x.kind) for x in await case_links.linked(services.store, b)] == [(a.number, "related")]
    for case, other in ((a, b), (b, a)):
        [event] = [e for e in await services.store.events(case.id) if e.action == "link"]
        assert event.data == {"case": other.number} and not event.public and event.actor == "user:agent"
    await case_links.unlink(services.store, a.number, b.number, agent)
    assert await case_links.linked(services.store, a) == []
    with pytest.raises(InvalidInput):
        await case_links.unlink(services.store, a.number, b.number, agent)


async def test_merge_closes_the_duplicate_into_the_master(services):
    agent = await staff(services, "agent", "agent")
    master, dup = await filed(services), await filed(services, channel=Channel.WEBCHAT, location="幸福路十二号")
    await services.store.add_attachment(dup.id, kind="upload", filename="photo.jpg", content_type="image/jpeg",
                                        data=b"\xff\xd8photo")
    await case_links.merge(services.store, dup.number, master.number, agent, comment="同一市民同一工地")
    merged = await services.store.get(dup.number)
    assert merged.status == "merged" and merged.closed_at is not None
    [event] = [e for e in await services.store.events(dup.id) if e.action == "merge"]
    assert event.data == {"into": master.number} and event.public and event.to_status == "merged"
    [event] = [e for e in await services.store.events(master.id) if e.action == "merge_in"]
    assert event.data == {"case": dup.number}
    assert [(x.case.number, x.kind) for x in await case_links.linked(services.store, master)] == \
        [(dup.number, "merged_in")]
    assert [(x.case.number, x.kind) for x in await case_links.linked(services.store, merged)] == \
        [(master.number, "merged")]
    # a merged case is no longer similar, takes no supplement, and cannot be merged again
    assert await services.store.similar.find(Probe.of_case(master)) == []
    assert await case_links.add_intake_to(services.store, merged, intake()) is None
    with pytest.raises(IllegalTransition):
        await case_links.merge(services.store, dup.number, master.number, agent)
    with pytest.raises(InvalidInput):
        await case_links.link(services.store, dup.number, master.number, agent)


async def test_who_may_link_and_merge(services):
    agent = await staff(services, "agent", "agent")
    handler = await staff(services, "dept", "department", "zjj")
    a, b = await filed(services), await filed(services, contact_phone="13900001111")
    for case in (a, b):
        await services.store.apply(case.number, "dispatch", agent, department_code="zjj")
    with pytest.raises(Forbidden):
        await case_links.merge(services.store, b.number, a.number, handler)
    with pytest.raises(Forbidden):
        await case_links.link(services.store, b.number, a.number, handler)
    with pytest.raises(InvalidInput):  # a merge names its master: not a plain workflow action
        await services.store.apply(b.number, "merge", agent)
    with pytest.raises(InvalidInput):
        await case_links.merge(services.store, a.number, a.number, agent)
    with pytest.raises(InvalidInput):
        await case_links.merge(services.store, a.number, "2612070000000", agent)
    async with services.db.read() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(CaseLink))).scalar() == 0
        assert {e.action for e in (await s.execute(sa.select(CaseEvent))).scalars()} == {"register", "dispatch"}


async def test_a_master_must_still_be_open(services):
    agent = await staff(services, "agent", "agent")
    master, dup = await filed(services), await filed(services, contact_phone="13900001111")
    async with services.db.write() as s:
        await s.execute(sa.update(Case).where(Case.id == master.id).values(status="replied"))
    with pytest.raises(InvalidInput):
        await case_links.merge(services.store, dup.number, master.number, agent)
    assert (await services.store.get(dup.number)).status == "registered"


async def test_reports_count_a_merged_matter_once(services, db_url):
    agent = await staff(services, "agent", "agent")
    master, dup = await filed(services), await filed(services, location="幸福路十二号")
    await filed(services, contact_phone="13900003333", description="光明小区电梯坏了一周没人修", location="光明小区")
    await case_links.merge(services.store, dup.number, master.number, agent)
    today = dt.datetime.now(services.store.calendar.tz).date()
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as conn:
            refresh_summaries(conn, calendar=services.store.calendar)
        with engine.connect() as conn:
            for summary in (True, False):
                table = run_report(conn, "volume", Period(today, today + dt.timedelta(days=1)), by="kind",
                                   calendar=services.store.calendar, summary=summary).table
                assert table.total["total"] == 2, summary
    finally:
        engine.dispose()
