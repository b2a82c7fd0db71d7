"""Alembic environment: runs migrations on the URL that cases.migrate passes in."""
from alembic import context

from cases.case_search import include_object
from cases.db import is_sqlite, make_sync_engine
from cases.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    engine = make_sync_engine(url)
    with engine.connect() as connection:
        # batch mode lets ALTER TABLE work on SQLite, which cannot alter most constraints in place
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=is_sqlite(url), compare_type=True,
                          include_object=include_object)  # the text index is the migration's own
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
