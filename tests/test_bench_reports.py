"""The reports benchmark runs end to end (generator, summaries, every scenario) on a small SQLite
database, so CI keeps it working; the figures of record come from 1,000,000 cases (README)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_reports_benchmark_runs_every_scenario(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "reports.py"), "--only", "sqlite", "--cases", "3000",
                          "--repeat", "1", "--sqlite", str(tmp_path / "reports.db")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])["figures_ms"]["sqlite"]
    assert len(figures) >= 20 and all(ms > 0 for ms in figures.values())
    assert "summaries refreshed before a report" in figures and "agents, 12 months, 同比" in figures
    assert "targets met" in out.stdout
    assert not (tmp_path / "reports.db").exists()  # dropped unless --keep
