"""A batch migration that rebuilds `cases` on SQLite (as any column change does there) dropped the
search index's triggers, and new cases were no longer found. The migration environment now puts
them back: tried with a real migration of that kind, added after head for the test."""
from __future__ import annotations

import textwrap

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from cases.migrate import alembic_config, upgrade


def rebuilding_migration(folder, down_revision: str) -> None:
    folder.mkdir()
    (folder / "9999_rebuild_cases.py").write_text(textwrap.dedent(f'''
        from alembic import op
        import sqlalchemy as sa

        revision = "9999_test"
        down_revision = "{down_revision}"
        branch_labels = None
        depends_on = None


        def upgrade():
            with op.batch_alter_table("cases", recreate="always") as batch:
                batch.add_column(sa.Column("test_note", sa.String(20), nullable=True))


        def downgrade():
            with op.batch_alter_table("cases", recreate="always") as batch:
                batch.drop_column("test_note")
    '''))


def triggers(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())


def found(engine, text: str) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM cases_fts WHERE cases_fts MATCH ?",
                                    (f'"{text}"',)).scalar()


def test_a_migration_that_rebuilds_cases_keeps_search_working(tmp_path):
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    engine = sa.create_engine(url, future=True)
    wanted = {"cases_fts_insert", "cases_fts_delete", "cases_fts_update"}
    assert wanted <= triggers(engine)

    config = alembic_config(url)
    head = ScriptDirectory.from_config(config).get_current_head()
    extra = tmp_path / "versions"
    rebuilding_migration(extra, head)
    config.set_main_option("version_locations",
                           f"{ScriptDirectory.from_config(alembic_config(url)).versions} {extra}")
    command.upgrade(config, "9999_test")

    assert wanted <= triggers(engine)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT * FROM cases LIMIT 0"))
        assert "test_note" in row.keys()  # the table really was rebuilt
    assert found(engine, "下水道反味") == 0
    with engine.begin() as conn:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns("cases")}
        required = [name for name, c in columns.items() if not c["nullable"] and c.get("default") is None
                    and name != "id"]
        values = {name: _value(columns[name]["type"], name) for name in required}
        values.update(title="下水道反味", description="小区下水道反味严重", location="幸福路")
        conn.execute(sa.text(f"INSERT INTO cases ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"),
                     values)
    assert found(engine, "下水道反味") == 1  # the insert trigger indexed it
    command.downgrade(config, head)
    assert wanted <= triggers(engine)
    engine.dispose()


def _value(kind, name: str):
    if isinstance(kind, sa.DateTime):
        return "2026-12-01 10:00:00.000000"
    if isinstance(kind, (sa.Integer, sa.Boolean)):
        return 0
    return f"x-{name}"[:12]
