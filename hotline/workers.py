"""`hotline run --workers N`: N gateway processes on one machine behind the same addresses.

Each worker is an ordinary `hotline run` with `reuse_port` on: the HTTP, FastAGI and SMTP ports are
bound by every worker with SO_REUSEPORT, and the kernel spreads new connections among the workers
that are alive (a worker killed with -9 drops out at once, its open connections are reset and the
clients' next connection reaches another). Every worker has its own AudioSocket port
(`audiosocket_port` + its index) because a call's audio must reach the process that announced it.

What the workers share lives in PostgreSQL and Redis (README, "Scale-out"), so N > 1 needs both.
This process only starts the workers, restarts one that died, and passes SIGTERM/SIGINT on.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from .settings import Settings
from .startup import StartupError

log = logging.getLogger("hotline")

RESTART_PAUSE_S = 1.0
QUICK_EXIT_S = 30.0   # a worker that ends sooner than this after its start failed to start
MAX_QUICK_EXITS = 3


def check_shared(settings: Settings, workers: int) -> None:
    """Several workers share conversations, locks and limits: PostgreSQL and Redis are needed."""
    from cases.db import is_sqlite

    if workers < 1:
        raise StartupError(f"--workers {workers}: at least 1")
    if workers == 1:
        return
    if is_sqlite(settings.database_url):
        raise StartupError(f"--workers {workers} needs PostgreSQL (db_url): SQLite serves one process")
    missing = [name for name in ("redis_url", "lock_store_url") if not getattr(settings, name)]
    if missing:
        raise StartupError(f"--workers {workers} needs {' and '.join(missing)} (e.g. redis://127.0.0.1:6379/0): "
                           "what the workers share lives in Redis")
    if settings.audiosocket_address:
        raise StartupError("setting 'audiosocket_address' names one process: with --workers leave it empty "
                           "(each worker tells Asterisk voice_host and its own AudioSocket port)")


def worker_environment(settings: Settings, index: int, workers: int) -> dict[str, str]:
    env = dict(os.environ)
    # TensorFlow (the NLU) sizes its thread pools to the whole machine in every process: N workers
    # would run N × cores threads that wake and wait on each other (bench/scale.py, 2 workers on 2
    # cores: 10–12 ms of gateway CPU per chat turn instead of 8.7). A worker's share of the cores
    # instead; an operator's own setting wins.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(name, threads)
    env.update(HOTLINE_REUSE_PORT="true",
               HOTLINE_AUDIOSOCKET_PORT=str(settings.audiosocket_port + index if settings.audiosocket_port else 0))
    return env


def supervise(settings: Settings, workers: int, config: str | None) -> int:
    """Start the workers and keep them running until SIGTERM/SIGINT; the exit status is 0 after a
    requested stop, 1 when a worker keeps failing to start."""
    settings.ensure_secret_key()  # made once here (data_dir/secret_key), then read by every worker
    command = [sys.executable, "-m", "hotline.cli", *(["--config", config] if config else []), "run", "--no-migrate"]
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    procs: dict[int, subprocess.Popen] = {}
    started: dict[int, float] = {}
    quick_exits = 0

    def launch(index: int) -> None:
        procs[index] = subprocess.Popen(command, env=worker_environment(settings, index, workers))
        started[index] = time.monotonic()
        log.info("worker started", extra={"fields": {"worker": index, "pid": procs[index].pid}})

    for index in range(workers):
        launch(index)
    status = 0
    while not stopping:
        time.sleep(0.2)
        for index, proc in list(procs.items()):
            code = proc.poll()
            if code is None or stopping:
                continue
            quick = time.monotonic() - started[index] < QUICK_EXIT_S
            quick_exits = quick_exits + 1 if quick else 0
            log.warning("worker ended; starting it again",
                        extra={"fields": {"worker": index, "pid": proc.pid, "status": code}})
            if quick_exits >= MAX_QUICK_EXITS:  # it cannot start (its own one line said why)
                print(f"error: worker {index} keeps failing to start (status {code})", file=sys.stderr, flush=True)
                stopping, status = True, 1
                break
            time.sleep(RESTART_PAUSE_S)
            launch(index)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return status
