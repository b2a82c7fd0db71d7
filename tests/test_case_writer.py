"""The case write path (cases/case_writer.py) on SQLite and PostgreSQL: the case and its event
commit together before the number is told, the text index follows at once, a taken number is
drawn again, and a failing case fails alone."""
import asyncio
import itertools

import pytest
import sqlalchemy as sa

from cases.case_writer import MAX_BATCH, CaseWriter, NewCase, NumberExhausted
from cases.intake import validate_case
from cases.models import Case, CaseEvent
from cases.store import CaseFilter
from cases.workflow import Channel


def body(i: int, **overrides) -> dict:
    data = {"kind": "complaint", "description": f"第{i}号：光明路菜市场油烟太大，中午没法开窗",
            "location": f"光明路{i}号", "contact_phone": "13912345678"}
    data.update(overrides)
    return data


async def rows(services, model) -> int:
    async with services.db.read() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


@pytest.fixture
async def store_rows(services) -> tuple[dict, dict]:
    """The case and event rows the store wrote for one real creation (a plain web complaint)."""
    writer, kept = services.store.case_writer, []

    async def keep(new: NewCase):
        kept.append(new)
        return await CaseWriter.insert(writer, new)
    writer.insert = keep
    await services.store.create_case(validate_case(body(0), channel=Channel.WEB))
    del writer.insert
    return kept[0].case, kept[0].event


def new_case(store_rows, number_draws, **row) -> NewCase:
    """A NewCase like the store's, with numbers drawn from `number_draws`."""
    return NewCase(dict(store_rows[0], **row), dict(store_rows[1]), number_draws.__next__)


async def test_concurrent_creations_are_committed_with_one_event_each_and_searchable(services):
    made = await asyncio.gather(*(services.store.create_case(validate_case(body(i), channel=Channel.WEB))
                                  for i in range(MAX_BATCH + 30)))  # more than one SQLite batch
    assert len({c.number for c, _ in made}) == len(made)
    async with services.db.read() as s:  # another connection sees every case with its one event
        events = dict((await s.execute(sa.select(CaseEvent.case_id, sa.func.count()).group_by(CaseEvent.case_id))).all())
    assert events == {c.id: 1 for c, _ in made}
    case, password = made[17]
    assert (await services.store.lookup(case.number, password)).id == case.id
    found, total = await services.store.search(CaseFilter(text=f"光明路{17}号"))
    assert total == 1 and found[0].number == case.number
    found, total = await services.store.search(CaseFilter(text="油烟"))  # a short (2 character) text
    assert total == len(made)


async def test_the_returned_case_is_the_stored_row(services):
    case, _ = await services.store.create_case(validate_case(body(1, category="hjbh.zswr"), channel=Channel.WEB))
    stored = await services.store.get(case.number)
    for column in Case.__table__.c:
        assert getattr(case, column.name) == getattr(stored, column.name), column.name
    assert case.category.code == "hjbh.zswr" and case.category.parent.code == "hjbh" and case.department is None


async def test_a_taken_number_is_drawn_again(services, store_rows):
    first, _ = await services.store.create_case(validate_case(body(2), channel=Channel.WEB))
    fresh = first.number[:-1] + ("0" if first.number[-1] != "0" else "1")  # any other 13 characters
    case_id, number = await services.store.case_writer.insert(
        new_case(store_rows, iter([first.number, first.number, fresh])))
    assert number == fresh
    assert (await services.store.get(fresh)).id == case_id
    assert await rows(services, Case) == await rows(services, CaseEvent) == 3


async def test_no_free_number_stores_nothing(services, store_rows):
    first, _ = await services.store.create_case(validate_case(body(3), channel=Channel.WEB))
    with pytest.raises(NumberExhausted):
        await services.store.case_writer.insert(new_case(store_rows, itertools.repeat(first.number)))
    assert await rows(services, Case) == await rows(services, CaseEvent) == 2


async def test_a_failing_case_fails_alone(services, store_rows):
    """A row the database refuses (a category that does not exist) fails its own creation; the
    cases written with it (in the same batch on SQLite) are stored."""
    numbers = (f"261206{i:06d}0" for i in itertools.count())
    bad = new_case(store_rows, numbers, category_id=999_999)
    good = [new_case(store_rows, numbers) for _ in range(5)]
    results = await asyncio.gather(*(services.store.case_writer.insert(n) for n in [*good[:2], bad, *good[2:]]),
                                   return_exceptions=True)
    assert isinstance(results[2], sa.exc.IntegrityError)
    assert all(isinstance(r, tuple) for i, r in enumerate(results) if i != 2)
    assert await rows(services, Case) == await rows(services, CaseEvent) == 1 + 5


def test_a_row_must_name_every_column():
    with pytest.raises(ValueError, match="locale"):
        NewCase({"kind": "complaint"}, {}, lambda: "1")
