"""`hotline backup` and `hotline restore`: a consistent copy of the case database while the gateway
runs, and putting one back.

SQLite: the online backup API (sqlite3's Connection.backup) copies a consistent snapshot page by
page while other connections go on writing; the copy is an ordinary database file. PostgreSQL:
`pg_dump --format=custom` (one consistent snapshot, restored with `pg_restore`), the tools from
Debian's postgresql-client. The attachments folder (data_dir/attachments) is files: copy it too."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from cases.db import is_sqlite


class BackupError(Exception):
    """The copy could not be made or put back; the message says why."""


def backup(database_url: str, target: Path) -> Path:
    """Write a copy of the database to `target` (a new file; an existing one is refused)."""
    if target.exists():
        raise BackupError(f"{target} exists already: give a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite(database_url):
        source = _sqlite_path(database_url)
        partial = target.with_name(target.name + ".partial")
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(partial) as dst:
            src.backup(dst, pages=1024)  # in steps, so writers are not held up for the whole copy
        os.replace(partial, target)  # a half-written copy never carries the final name
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}"], database_url)
    return target


def restore(database_url: str, source: Path) -> None:
    """Replace the database's content with a copy made by `backup` (stop the gateway first)."""
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    if is_sqlite(database_url):
        with sqlite3.connect(source) as src:
            if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is not an intact SQLite database")
            target = _sqlite_path(database_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(target) as dst:
                src.backup(dst)
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(source)],
             database_url, database_flag=True)


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(database)


def _run(command: list[str], database_url: str, database_flag: bool = False) -> None:
    """Run a PostgreSQL client tool; the password goes through the environment, not the command line."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} not found: install Debian's postgresql-client")
    url = make_url(database_url)
    env = dict(os.environ, PGHOST=url.host or "", PGPORT=str(url.port or 5432), PGUSER=url.username or "",
               PGDATABASE=url.database or "")
    if url.password:
        env["PGPASSWORD"] = url.password
    if database_flag:
        command = [*command[:-1], f"--dbname={url.database}", command[-1]]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
