"""Text search over cases through the trigram index (cases/case_search.py), on SQLite and PostgreSQL:
every query finds exactly the cases whose title, description or location contains it, for Chinese
queries of one and two characters too (which a trigram index cannot look up by itself), with the
index kept in step with changed and deleted cases; the plans use the index; the desk's bounded count."""
from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, select, update

import cases.case_search as case_search
from cases.db import make_sync_engine
from cases.migrate import downgrade, upgrade
from cases.models import Case, utcnow
from cases.similar import Probe, SimilarCases
from cases.store import CaseFilter
from conftest import temporary_pg_database
from desk_support import login, make_users, new_case

TEXTS = [  # (title, description, location)
    ("电梯故障", "幸福小区3号楼电梯经常停在半空，很危险", "幸福小区"),
    ("噪音扰民", "工地夜间施工噪音很大", "光明路12号"),
    ("路灯不亮", "人民公园门口的路灯坏了一周", "人民公园"),
    ("ABC物业", "物业公司abc不处理漏水，费用涨了50%", "滨江花园"),
    ("停车难", "小区停车位太少，车停到了消防通道", "东湖社区梯"),
    ("油烟", "楼下饭店油烟直排，熏得没法开窗", "建设路100_1号"),
]


async def make_cases(services, texts=TEXTS) -> dict[int, tuple[str, str, str]]:
    made = {}
    for title, description, location in texts:
        case = await new_case(services, description=description)
        async with services.db.write() as s:
            await s.execute(update(Case).where(Case.id == case.id).values(title=title, location=location))
        made[case.id] = (title, description, location)
    return made


async def found(services, text: str, **kwargs) -> set[int]:
    rows, total = await services.store.search(CaseFilter(text=text), limit=100, **kwargs)
    assert total == len(rows) or kwargs.get("count_limit") is not None
    return {c.id for c in rows}


def expected(made: dict, text: str) -> set[int]:
    return {i for i, parts in made.items() if text.lower() in "\n".join(parts).lower()}


# "社区梯", "梯": the last characters of an indexed text
QUERIES = ["电梯", "梯", "噪音", "路灯不亮", "幸福小区3号楼", "社区梯", "梯子", "区", "号", "abc", "ABC", "Abc物",
           "50%", "%", "_", "100_1", "0_", "漏水", "不存在的词", "井盖", "栋", "施工噪音很大", "园", "花园"]


async def test_every_query_finds_exactly_the_cases_containing_it(services):
    made = await make_cases(services)
    for q in QUERIES:
        assert await found(services, q) == expected(made, q), q


async def test_random_substrings_of_one_to_four_characters(services):
    made = await make_cases(services)
    rnd = random.Random(12345)
    texts = ["\n".join(p) for p in made.values()]
    for _ in range(60):
        text = rnd.choice(texts).replace("\n", "")
        n = rnd.randint(1, 4)
        start = rnd.randrange(len(text) - n + 1)
        q = text[start:start + n].strip()
        if q:
            assert await found(services, q) == expected(made, q), q


async def test_the_index_follows_changed_and_deleted_cases(services):
    made = await make_cases(services)
    first, second = list(made)[:2]
    async with services.db.write() as s:
        await s.execute(update(Case).where(Case.id == first).values(description="井盖丢失", title="井盖"))
        await s.execute(delete(Case).where(Case.id == second))
    assert await found(services, "井盖") == {first}
    assert await found(services, "井") == {first}
    assert first not in await found(services, "电梯") and first not in await found(services, "半空")
    assert second not in await found(services, "噪音") and await found(services, "噪音") == set()


async def test_short_queries_fall_back_to_a_scan_with_the_same_answer(services, monkeypatch):
    """SQLite: a character followed by very many different ones scans instead of expanding."""
    made = await make_cases(services)
    monkeypatch.setattr(case_search, "MAX_PREFIX_TERMS", 0)
    for q in ["梯", "电梯", "区", "abc"]:
        assert await found(services, q) == expected(made, q), q


async def test_counting_stops_at_the_limit_and_pages_stay_in_order(services):
    await make_cases(services, [(f"第{i}件", f"小区电梯第{i}次故障", "幸福小区") for i in range(7)])
    rows, total = await services.store.search(CaseFilter(text="电梯"), limit=3, count_limit=4)
    assert total == 5 and len(rows) == 3  # "4+"
    everything, exact = await services.store.search(CaseFilter(text="电梯"), limit=10)
    assert exact == 7
    assert [c.id for c in everything] == [c.id for c in sorted(everything, key=lambda c: (c.created_at, c.id),
                                                                 reverse=True)]
    page2, _ = await services.store.search(CaseFilter(text="电梯"), limit=3, offset=3, count_limit=4)
    assert [c.id for c in rows + page2] == [c.id for c in everything[:6]]
    # the scan path (SQLite, a very common character) pages the same
    case_search.MAX_PREFIX_TERMS, saved = 0, case_search.MAX_PREFIX_TERMS
    try:
        scanned, _ = await services.store.search(CaseFilter(text="梯"), limit=3, offset=3, count_limit=100)
    finally:
        case_search.MAX_PREFIX_TERMS = saved
    assert [c.id for c in scanned] == [c.id for c in everything[3:6]]


async def test_text_search_plans_use_the_index(services):
    """EXPLAIN on the real database: the trigram index (or, for 1-2 characters, the FTS vocabulary
    / the PostgreSQL character-pair index) serves the condition, not a scan of the cases."""
    await make_cases(services)
    engine = make_sync_engine(services.settings.db_url)
    try:
        with engine.connect() as conn:
            for q, index in [("幸福小区", "ix_cases_text_trgm"), ("电梯", "ix_cases_text_grams"),
                             ("梯", "ix_cases_text_grams")]:
                async with services.db.read() as s:
                    match = await case_search.text_condition(s, services.db.sqlite, q)
                stmt = select(Case.id).where(match.condition(Case.id))
                compiled = stmt.compile(engine)
                if services.db.sqlite:
                    params = tuple(compiled.params[k] for k in compiled.positiontup)
                    plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params))
                    assert "SEARCH cases USING INTEGER PRIMARY KEY" in plan and "cases_fts VIRTUAL TABLE INDEX 0:M" in plan, \
                        (q, plan)  # ids from the FTS index (its MATCH), each case then found by id
                else:
                    conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: only ask that it can
                    plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
                    assert index in plan, (q, plan)
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_short_query_is_never_worked_out_case_by_case(services):
    """PostgreSQL: the characters-and-pairs array of a case costs ~0.1 ms to work out. With thousands
    of open cases and a pair in one case of six, the planner walked the open cases newest first and
    worked the array out for each (the similar-case look-up behind every intake took 300 ms under
    load); the similar cases' look-up gathers the matches through the array's index, and no case's
    array is worked out per row."""
    await make_cases(services)
    engine = make_sync_engine(services.settings.db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO cases (number, password_hash, kind, title, description, location, happened, "
                "contact_name, contact_phone, contact_email, anonymous, wants_reply, channel, urgency, status, "
                "reply, locale, created_at, updated_at) "
                "SELECT '8' || lpad(i::text, 12, '0'), 'x', 'complaint', '占道', "
                "CASE WHEN mod(i, 6) = 0 THEN '人民路口有人占道经营' ELSE '光明路口有人占道经营' END, '', '', '', '', '', "
                "false, true, 'web', 'normal', 'registered', '', 'zh', now() - i * interval '1 minute', now() "
                "FROM generate_series(1, 3000) AS i")
            conn.exec_driver_sql("ANALYZE cases")
        async with services.db.read() as s:
            match = await case_search.text_condition(s, False, "人民")
        stmt = SimilarCases.candidates(Probe(location="人民路口"), utcnow() - dt.timedelta(days=30), None,
                                       match.gathered(Case.id))
        compiled = stmt.compile(engine, compile_kwargs={"render_postcompile": True})
        with engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            found = conn.execute(stmt).scalars().all()
        assert "ix_cases_text_grams" in plan, plan
        assert not [line for line in plan.splitlines() if "Filter:" in line and "hotline_case_grams" in line], plan
        assert len(found) == 60
    finally:
        engine.dispose()


async def test_desk_list_says_more_than_when_the_count_stops(services, client_factory, monkeypatch):
    import channels.desk.casework as casework
    await make_users(services)
    await make_cases(services, [(f"第{i}件", f"窨井盖第{i}处丢失", "光明路") for i in range(4)])
    agent = await client_factory(services)
    assert (await login(agent, "agent1")).status == 302
    monkeypatch.setattr(casework, "COUNT_LIMIT", 2)
    text = await (await agent.get("/desk/cases?q=井盖")).text()
    assert "共 2+ 件" in text and text.count('href="/desk/cases/') >= 4 and "1 / 1+" in text
    text = await (await agent.get("/desk/cases")).text()
    assert "共 2+ 件" in text
    monkeypatch.setattr(casework, "COUNT_LIMIT", 10_000)
    assert "共 4 件" in await (await agent.get("/desk/cases?q=井")).text()
    assert "共 0 件" in await (await agent.get("/desk/cases?q=没有这种事")).text()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_to_0007(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        upgrade(url, "0007")
        yield url
    else:
        with temporary_pg_database("hotline_search") as url:
            upgrade(url, "0007")
            yield url


def test_migration_indexes_existing_cases_and_undoes_itself(migrated_to_0007):
    url = migrated_to_0007
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO cases (number, password_hash, kind, title, description, location, happened, "
                "contact_name, contact_phone, contact_email, anonymous, wants_reply, channel, urgency, status, "
                "reply, locale, created_at, updated_at) VALUES ('2611280000018', 'x', 'complaint', '井盖', "
                "'光明路井盖丢失', '光明路', '', '', '', '', false, true, 'web', 'normal', 'registered', '', 'zh', "
                "'2026-11-28 01:00:00', '2026-11-28 01:00:00')"))
        upgrade(url)
        sqlite = url.startswith("sqlite")
        with engine.connect() as conn:
            if sqlite:
                hits = conn.exec_driver_sql("SELECT rowid FROM cases_fts WHERE cases_fts MATCH '\"明路井\"'").all()
                triggers = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
                assert triggers >= {"cases_fts_insert", "cases_fts_update", "cases_fts_delete"}
            else:
                hits = conn.exec_driver_sql("SELECT id FROM cases WHERE hotline_case_grams(hotline_case_text("
                                            "title, description, location)) @> ARRAY['井盖']").all()
            assert len(hits) == 1
        downgrade(url, "0007")
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names()) | {i["name"] for i in sa.inspect(conn).get_indexes("cases")}
            assert not names & case_search.SEARCH_OBJECTS
            if sqlite:
                assert not conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'cases_fts%' "
                                                "OR type = 'trigger'").all()
            else:
                assert not conn.execute(sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'hotline_%'")).all()
    finally:
        engine.dispose()
