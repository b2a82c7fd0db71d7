"""case search: a trigram index for text, and indexes in the desk list's filter and sort order

Text (cases/case_search.py says how queries use it):
- SQLite: FTS5 with the trigram tokenizer over the view cases_search_text (title, description and
  location joined by newlines, two more at the end so that every character begins a trigram), kept
  in sync by triggers on cases (cases/migrations/fts_triggers.py), and an fts5vocab table listing its
  trigrams. A later migration that rebuilds `cases` in batch mode drops the triggers with the old
  table: env.py puts them back after every upgrade (tests/test_migration_triggers.py).
- PostgreSQL: pg_trgm's GIN index on hotline_case_text(title, description, location), and a GIN
  index on its characters and pairs of characters (hotline_case_grams) for 1-2 character queries,
  which pg_trgm cannot answer (it takes about 20 s per 100,000 cases to build here).

The list (newest first): each common filter's equality columns, then created_at and id, so that a
page and a bounded count read only matching index entries, in order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:05:00
"""
from alembic import op

from cases.migrations.fts_triggers import FTS_TRIGGERS


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


SQLITE_UP = [
    "CREATE VIEW cases_search_text (id, body) AS SELECT id, "
    "title || char(10) || description || char(10) || location || char(10) || char(10) FROM cases",
    "CREATE VIRTUAL TABLE cases_fts USING fts5(body, content='cases_search_text', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE VIRTUAL TABLE cases_fts_vocab USING fts5vocab(cases_fts, 'row')",
    "INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')",
    *FTS_TRIGGERS.values(),
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS cases_fts_update", "DROP TRIGGER IF EXISTS cases_fts_delete",
               "DROP TRIGGER IF EXISTS cases_fts_insert", "DROP TABLE IF EXISTS cases_fts_vocab",
               "DROP TABLE IF EXISTS cases_fts", "DROP VIEW IF EXISTS cases_search_text"]

PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE FUNCTION hotline_case_text(title text, description text, location text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT title || E'\\n' || description || E'\\n' || location $$",
    "CREATE INDEX ix_cases_text_trgm ON cases USING gin "
    "(hotline_case_text(title, description, location) gin_trgm_ops)",
    # each character and each pair of neighbours, lower-cased: what 1-2 character queries look up
    "CREATE FUNCTION hotline_case_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ "
    "SELECT regexp_split_to_array(lower(t), '') "
    "|| array(SELECT substr(lower(t), i, 2) FROM generate_series(1, length(t) - 1) AS i) $$",
    "CREATE INDEX ix_cases_text_grams ON cases USING gin "
    "(hotline_case_grams(hotline_case_text(title, description, location)))",
]
PG_DOWN = ["DROP INDEX IF EXISTS ix_cases_text_grams", "DROP FUNCTION IF EXISTS hotline_case_grams(text)",
           "DROP INDEX IF EXISTS ix_cases_text_trgm",
           "DROP FUNCTION IF EXISTS hotline_case_text(text, text, text)",
           "DROP EXTENSION IF EXISTS pg_trgm"]

LIST_INDEXES = {  # name: columns
    'ix_cases_status_created': ['status', 'created_at', 'id'],
    'ix_cases_kind_status_created': ['kind', 'status', 'created_at', 'id'],
    'ix_cases_department_status_created': ['department_id', 'status', 'created_at', 'id'],
}


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_department_status')  # a prefix of its longer successor
        for name, columns in LIST_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else PG_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else PG_DOWN:
        op.execute(statement)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in reversed(LIST_INDEXES):
            batch_op.drop_index(name)
        batch_op.create_index('ix_cases_department_status', ['department_id', 'status'], unique=False)
