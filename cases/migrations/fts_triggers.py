"""The triggers that keep SQLite's case search index (cases_fts, migration 0008) in step with `cases`.

A batch migration that rebuilds `cases` on SQLite (copy to a new table, drop the old one, rename)
drops the old table's triggers with it, and search would silently stop finding new cases. So the
migration environment puts back any that are missing after every upgrade, and then rebuilds the
index, whose rows the rebuilt table may no longer match (env.py calls `restore_fts_triggers`)."""
from __future__ import annotations


def _body(row: str) -> str:
    return (f"{row}.title || char(10) || {row}.description || char(10) || {row}.location "
            "|| char(10) || char(10)")


FTS_TRIGGERS = {
    "cases_fts_insert": "CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN "
                        f"INSERT INTO cases_fts(rowid, body) VALUES (new.id, {_body('new')}); END",
    "cases_fts_delete": "CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN "
                        f"INSERT INTO cases_fts(cases_fts, rowid, body) VALUES ('delete', old.id, {_body('old')}); END",
    "cases_fts_update": "CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, description, location ON cases "
                        f"BEGIN INSERT INTO cases_fts(cases_fts, rowid, body) VALUES ('delete', old.id, {_body('old')}); "
                        f"INSERT INTO cases_fts(rowid, body) VALUES (new.id, {_body('new')}); END",
}


def restore_fts_triggers(connection) -> list[str]:
    """Create the triggers that are missing (when the search index exists); the names created."""
    def names(kind: str) -> set[str]:
        return set(connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = ?", (kind,)).scalars())

    if "cases_fts" not in names("table"):
        return []  # before migration 0008, or after its downgrade
    missing = [name for name in FTS_TRIGGERS if name not in names("trigger")]
    for name in missing:
        connection.exec_driver_sql(FTS_TRIGGERS[name])
    if missing:  # cases written or rebuilt without the triggers are not in the index
        connection.exec_driver_sql("INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')")
    return missing
