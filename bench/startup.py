"""How long an operator waits: `hotline run` from launch to a healthy /healthz, a first start (an
empty data folder: migrations, the bot model loaded, speech models if present) and a second start
(the same folder again), with the lines the console showed. Prints the load average beside the
figures: on a busy shared machine they are upper bounds. The model is trained (when its data
changed) before the first start, so both starts measure an operator's start with the model there;
the last line is the second start's figure, against the goal of 60 s.

    .venv/bin/python bench/startup.py [--no-bot] [--starts 2]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def one_start(data: Path, bot: bool, limit_s: float) -> tuple[float | None, list[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(data), HOTLINE_HTTP_PORT=str(port), HOTLINE_LOG_JSON="false",
               HOTLINE_BOT_ENABLED=str(bot).lower(), HOTLINE_BOT_MODEL_DIR=str(ROOT / "models"),
               HOTLINE_AGI_PORT=str(free_port()), HOTLINE_AUDIOSOCKET_PORT=str(free_port()),
               PYTHONPATH=str(ROOT))
    console = data.parent / f"console-{port}.log"
    started = time.monotonic()
    with open(console, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "hotline.cli", "run"], env=env, cwd=data.parent,
                                   stdout=out, stderr=out)
        took = None
        try:
            while time.monotonic() - started < limit_s and process.poll() is None:
                if healthy(f"http://127.0.0.1:{port}/healthz"):
                    took = time.monotonic() - started
                    break
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return took, console.read_text(errors="replace").splitlines()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--no-bot", action="store_true")
    p.add_argument("--starts", type=int, default=2)
    p.add_argument("--limit", type=float, default=600)
    args = p.parse_args()
    if not args.no_bot:  # the model is trained beforehand: a start measures migrating and loading
        sys.path.insert(0, str(ROOT))
        from bot.training import ensure_model
        ensure_model(ROOT / "models")
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        for n in range(1, args.starts + 1):
            load = open("/proc/loadavg").read().split()[:3]
            took, lines = one_start(data, not args.no_bot, args.limit)
            figure = f"{took:.1f} s" if took is not None else f"not healthy within {args.limit:.0f} s"
            figures.append(figure)
            print(f"start {n} ({'first: empty data folder' if n == 1 else 'again: database and models there'}, "
                  f"bot {'off' if args.no_bot else 'on'}): healthy after {figure}; load average before: "
                  f"{' '.join(load)}; {len(lines)} console lines")
            for line in lines:
                print(f"    {line}")
    print(f"load average now: {open('/proc/loadavg').read().strip()} ({os.cpu_count()} cores)")
    if len(figures) > 1:
        print(f"second start (database and trained model already there): healthy after {figures[1]} (goal ≤ 60 s)")


if __name__ == "__main__":
    main()
