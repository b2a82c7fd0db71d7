"""Alembic environment: runs migrations on the URL that cases.migrate passes in."""
from alembic import context

from cases.case_search import include_object
from cases.db import is_sqlite, make_sync_engine
from cases.migrations.fts_triggers import restore_fts_triggers
from cases.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    engine = make_sync_engine(url)
    with engine.connect() as connection:
        if is_sqlite(url):
            # batch mode rebuilds a table as a copy renamed to the old name; SQLite's modern RENAME
            # checks every view against the schema in the middle of that (and the case search view
            # names `cases`, gone at that moment), the legacy one leaves views and triggers alone
            connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
            connection.commit()  # end the transaction the statement began, or Alembic would not commit its own
        # batch mode lets ALTER TABLE work on SQLite, which cannot alter most constraints in place
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=is_sqlite(url), compare_type=True,
                          include_object=include_object)  # the text index is the migration's own
        with context.begin_transaction():
            context.run_migrations()
            if is_sqlite(url):  # a batch migration that rebuilt `cases` dropped its search triggers
                restore_fts_triggers(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
