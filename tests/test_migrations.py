"""Migrations on an empty SQLite file and on a fresh PostgreSQL database; the models match them;
`hotline db upgrade` and `hotline demo-data` may run again and again."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cases.case_search import SEARCH_OBJECTS, include_object
from cases.db import make_sync_engine
from cases.migrate import alembic_config, downgrade, upgrade
from cases.models import metadata
from conftest import temporary_pg_database
from hotline import cli

REFERENCE_TABLES = ["categories", "departments", "knowledge_articles", "polls", "poll_questions",
                    "calendar_days", "deadline_rules", "users"]


@pytest.fixture
def fresh_pg():
    """An empty PostgreSQL database of this test's own, dropped afterwards."""
    with temporary_pg_database("hotline_mig") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_pg")


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def state(url: str) -> tuple[str | None, set[str], list]:
    """(revision, tables, differences between the models and the database)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
            diff = compare_metadata(context, metadata)
            tables = set(sa.inspect(conn).get_table_names()) - SEARCH_OBJECTS  # the text index's own
            return context.get_current_revision(), tables, diff
    finally:
        engine.dispose()


def test_migrations_build_the_schema_the_models_describe(empty_db):
    revision, tables, _ = state(empty_db)
    assert revision is None and tables == set()
    upgrade(empty_db)
    revision, tables, diff = state(empty_db)
    assert revision == head_revision(empty_db)
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert diff == [], "models and migrations differ; add a migration (cases.migrate.make_revision):\n" + \
        "\n".join(map(str, diff))
    # upgrading again is a no-op; every migration can be undone and redone
    upgrade(empty_db)
    downgrade(empty_db, "base")
    revision, tables, _ = state(empty_db)
    assert revision is None and tables <= {"alembic_version"}
    upgrade(empty_db)
    revision, _, diff = state(empty_db)
    assert revision == head_revision(empty_db) and diff == []


def counts(url: str) -> dict[str, int]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in REFERENCE_TABLES}
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cli_upgrade_and_demo_data_run_twice_without_duplicates(backend, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)  # no ./hotline.toml from the developer's checkout
    for name in ("HOTLINE_CONFIG", "HOTLINE_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HOTLINE_LOG_JSON", "false")
    monkeypatch.setenv("HOTLINE_USER_KDF_MEMORY_KIB", "1024")  # staff hashing cost: keep the test fast
    monkeypatch.setenv("HOTLINE_USER_KDF_TIME_COST", "1")
    if backend == "postgres":
        url = request.getfixturevalue("fresh_pg")
        monkeypatch.setenv("HOTLINE_DB_URL", url)
    else:
        url = f"sqlite:///{data_dir / 'hotline.db'}"

    seen = []
    for _ in range(2):
        assert cli.main(["db", "upgrade"]) == 0
        assert cli.main(["demo-data"]) == 0
        seen.append(counts(url))
    out = capsys.readouterr().out
    assert out.count("database at revision head") == 2
    assert "users_created 4" in out and "users_created 0" in out
    first, second = seen
    assert first == second, "demo-data duplicated reference rows"
    assert all(first[t] > 0 for t in REFERENCE_TABLES), first
    assert first["users"] == len(cli.DEMO_USERS)
    assert state(url)[0] == head_revision(url)
    if backend == "sqlite":
        assert (data_dir / "hotline.db").exists() and (data_dir / "secret_key").exists()


def test_cli_names_a_bad_setting_instead_of_failing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOTLINE_HTTP_PORT", "eighty")
    assert cli.main(["db", "upgrade"]) == 2
    assert "http_port" in capsys.readouterr().err
    assert not (tmp_path / "hotline.db").exists()
