"""`hotline backup` while the gateway writes, and `hotline restore`: on SQLite (online backup API) and
PostgreSQL (pg_dump / pg_restore). What was there at the backup comes back, searchable; what came
after is gone; a bad file or a missing --yes changes nothing."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cases.intake import validate_case
from cases.store import CaseFilter, NotFound
from hotline.backup import BackupError, backup, restore

ROOT = Path(__file__).resolve().parent.parent


def complaint(text: str) -> dict:
    return {"kind": "complaint", "description": text, "location": "幸福小区东门", "contact_name": "王先生",
            "contact_phone": "13812345678"}


async def create(services, text: str):
    case, _ = await services.store.create_case(validate_case(complaint(text), channel="web"))
    return case


def hotline(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(tmp_path / "data"), HOTLINE_DB_URL=db_url, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


async def test_backup_during_writes_and_restore(services, db_url, tmp_path):
    before = [await create(services, f"第{i}号：幸福小区烧烤摊油烟扰民") for i in range(5)]

    async def keep_writing():
        for i in range(20):
            await create(services, f"写入中{i}：路灯不亮")

    writer = asyncio.create_task(keep_writing())  # the gateway keeps taking cases meanwhile
    copy = await asyncio.get_running_loop().run_in_executor(None, backup, db_url, tmp_path / "hotline.backup")
    await writer
    assert copy.stat().st_size > 0
    after = await create(services, "备份之后才来的诉求：噪音")

    await services.db.dispose()  # the gateway stopped for the restore
    result = hotline(tmp_path, db_url, "restore", str(copy), "--yes")
    assert result.returncode == 0, result.stderr

    for case in before:
        assert (await services.store.get(case.number)).description == case.description
    with pytest.raises(NotFound):
        await services.store.get(after.number)
    found, total = await services.store.search(CaseFilter(text="烧烤摊"), limit=50)
    assert total == 5 and {c.number for c in found} == {c.number for c in before}
    # the restored database takes new cases (sequences and search triggers are back too)
    new = await create(services, "恢复之后的新诉求：烧烤摊又来了")
    assert (await services.store.search(CaseFilter(text="烧烤摊"), limit=50))[1] == 6
    assert new.number not in {c.number for c in before}


def test_backup_command_refuses_an_existing_file_and_says_where_it_wrote(tmp_path, sqlite_url):
    done = hotline(tmp_path, sqlite_url, "backup", str(tmp_path / "b1.db"))
    assert done.returncode == 0 and "b1.db" in done.stdout, done.stderr
    again = hotline(tmp_path, sqlite_url, "backup", str(tmp_path / "b1.db"))
    assert again.returncode == 1 and "exists already" in again.stderr


def test_restore_needs_yes_and_a_real_backup(tmp_path, sqlite_url):
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    original = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    no = hotline(tmp_path, sqlite_url, "restore", str(tmp_path / "junk.db"))
    assert no.returncode == 2 and "--yes" in no.stderr
    bad = hotline(tmp_path, sqlite_url, "restore", str(tmp_path / "junk.db"), "--yes")
    assert bad.returncode == 1 and "error: restore" in bad.stderr
    assert Path(sqlite_url.removeprefix("sqlite:///")).read_bytes() == original
    with pytest.raises(BackupError):
        restore(sqlite_url, tmp_path / "missing.db")
