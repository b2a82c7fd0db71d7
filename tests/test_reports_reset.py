"""`hotline reports reset-watermarks`: after a bulk change written around the gateway (here: the
channel of every case corrected by one UPDATE, which makes no case events), the incremental refresh
cannot see it; forgetting the watermarks builds the summaries whole again."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from cases.db import make_sync_engine
from cases.intake import validate_case
from cases.reports import refresh_summaries

ROOT = Path(__file__).resolve().parent.parent


def an_hour_later() -> dt.datetime:
    """When the refreshes run: every event of the test settled (cases/reports/facts.py: SETTLE, 10 minutes).
    Taken when the test runs, not when the module is collected: in a full CI run this test starts
    ~50 minutes after collection, and an hour after collection left its events unsettled."""
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)


def hotline(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(tmp_path / "data"), HOTLINE_DB_URL=db_url, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def per_channel(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT value, SUM(cases) FROM report_daily WHERE dim = 'channel' GROUP BY value")).all())


async def test_reset_after_a_bulk_change_rebuilds_the_summaries(services, db_url, tmp_path):
    for i in range(4):
        await services.store.create_case(validate_case(
            {"kind": "complaint", "description": f"第{i}件：路灯不亮，晚上很黑", "contact_phone": "13812345678"},
            channel="web"))
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        refresh_summaries(conn, calendar=services.store.calendar, now=an_hour_later())
    assert per_channel(engine) == {"web": 4}

    with engine.begin() as conn:  # the bulk correction: they were phone calls
        conn.execute(sa.text("UPDATE cases SET channel = 'phone'"))
        refresh_summaries(conn, calendar=services.store.calendar, now=an_hour_later())
    assert per_channel(engine) == {"web": 4}  # stale: no event told the refresh

    done = hotline(tmp_path, db_url, "reports", "reset-watermarks", "--rebuild")
    assert done.returncode == 0, done.stderr
    assert "reset: case_flow" in done.stdout
    assert per_channel(engine) == {"phone": 4}
    engine.dispose()


def test_an_unknown_summary_is_refused_and_nothing_reset(tmp_path, sqlite_url):
    done = hotline(tmp_path, sqlite_url, "reports", "reset-watermarks", "--only", "nope")
    assert done.returncode == 2 and "unknown summary nope" in done.stderr and "daily" in done.stderr
