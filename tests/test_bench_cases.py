"""The case benchmark runs end to end on SQLite (a gateway process, creations, look-ups, the
creation profile), so CI keeps it working; its figures of record are in the README."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cases_benchmark_prints_its_figures_the_breakdown_and_the_verdict():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cases.py"), "--db", "sqlite", "--cases", "60",
                          "--loaded-sample", "10", "--profile-cases", "5"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert re.search(r"sqlite +create +\(20 clients\): +[\d.]+ cases/s \(60 in", text), text
    assert re.search(r"gateway CPU [\d.]+ ms per case", text)
    for part in ("over HTTP", "validation", "KDF", "write = rows and commit", "text index", "report summaries"):
        assert part in text, part
    assert re.search(r"load average [\d.]+ [\d.]+ [\d.]+", text)
    assert re.search(r"^targets: .*: (met|MISSED)", text, re.M)
