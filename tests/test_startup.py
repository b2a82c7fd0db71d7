"""A gateway that cannot start says why in one line and ends (exit status 1): the real `hotline run`
command, started as a process, with a port taken or the database unreachable. One that can shows
its own steps and where to reach it, the libraries' noise kept in the debug log."""
from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from hotline.logs import OWN_LOGGERS, setup_logging
from hotline.server import serve
from hotline.startup import StartupError
from tests.conftest import idle_pool_worker, make_settings, need
from tests.mail_servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def hotline(tmp_path: Path, *args: str, timeout: float = 90, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(tmp_path / "data"), HOTLINE_BOT_ENABLED="false", HOTLINE_LOG_JSON="false",
               HOTLINE_HTTP_PORT=str(free_port()), PYTHONPATH=str(ROOT))
    env.update({f"HOTLINE_{k.upper()}": str(v) for k, v in settings.items()})
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout)


def the_one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: cannot start: ")
    return lines[0]


@pytest.fixture
def taken():
    """A port another program listens on (on every address, as a second gateway would hold it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_http_port_taken(tmp_path, taken):
    line = the_one_line(hotline(tmp_path, "run", http_port=taken))
    assert f"HTTP 127.0.0.1:{taken}" in line and "already in use" in line


def test_smtp_port_taken(tmp_path, taken):
    line = the_one_line(hotline(tmp_path, "run", smtpd_port=taken, mail_from="12345@example.cn"))
    assert f"SMTP 127.0.0.1:{taken}" in line and "already in use" in line


@pytest.mark.parametrize("which", ["agi_port", "audiosocket_port"])
def test_telephony_port_taken_is_found_before_the_bot_loads(tmp_path, taken, which):
    from speech.models import find_piper_voice, find_vosk_model
    if not all(f.path and f.path.exists() for f in (find_vosk_model(), find_piper_voice())):
        need("speech models missing: voice would be off and its ports unused")
    other = "audiosocket_port" if which == "agi_port" else "agi_port"
    # the bot is on (voice needs it) but is never loaded: the check comes first, so this takes seconds
    result = hotline(tmp_path, "run", timeout=30, bot_enabled="true", **{which: taken, other: free_port()})
    line = the_one_line(result)
    assert {"agi_port": "AGI", "audiosocket_port": "AudioSocket"}[which] in line and f":{taken}" in line


def test_database_unreachable_names_it_without_its_password(tmp_path):
    port = free_port()  # nothing listens there
    line = the_one_line(hotline(tmp_path, "run", db_url=f"postgresql://hotline:s3cret-pw@127.0.0.1:{port}/hotline"))
    assert f"127.0.0.1:{port}/hotline unreachable" in line and "s3cret-pw" not in line


def test_database_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "a-file").write_text("")
    line = the_one_line(hotline(tmp_path, "run", db_url=f"sqlite:///{tmp_path}/a-file/hotline.db"))
    assert "a-file" in line


def test_unsupported_database_is_a_settings_error(tmp_path):
    line = the_one_line(hotline(tmp_path, "run", db_url="mysql://127.0.0.1/hotline"))
    assert "db_url" in line


async def test_port_taken_after_the_check_is_the_same_one_line(tmp_path, sqlite_url, taken):
    """The real bind fails too (something took the port after the check), with the same reason,
    and what had started is stopped: no database connection's thread is left to keep a process
    alive (the report keeper, cancelled inside its first query, once left one)."""
    before = set(threading.enumerate())
    with pytest.raises(StartupError, match=f"HTTP 127.0.0.1:{taken}: the port is already in use"):
        await serve(make_settings(tmp_path, sqlite_url, http_port=taken))
    await asyncio.sleep(0.1)  # a closed aiosqlite connection's thread ends just after
    assert [t.name for t in set(threading.enumerate()) - before
            if t.is_alive() and not t.daemon and not idle_pool_worker(t)] == []


def test_a_thread_that_never_ends_does_not_keep_a_failed_start_alive(tmp_path):
    code = ("import threading, time\n"
            "from hotline.startup import fail\n"
            "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
            "raise SystemExit(fail('the reason'))\n")
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            capture_output=True, text=True, timeout=60)
    assert the_one_line(result) == "error: cannot start: the reason"


def test_a_start_shows_its_steps_and_ends_with_the_addresses(tmp_path):
    """What the operator sees (plain console): the gateway's own lines only, the last one with
    where to reach it; the libraries' records go to the debug log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(tmp_path / "data"), HOTLINE_BOT_ENABLED="false", HOTLINE_LOG_JSON="false",
               HOTLINE_HTTP_PORT=str(port), HOTLINE_AGI_PORT="0", PYTHONPATH=str(ROOT))
    console = tmp_path / "console.txt"
    with open(console, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "run"], env=env, cwd=tmp_path,
                                stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 120
            while "gateway listening" not in console.read_text(errors="replace"):
                assert proc.poll() is None and time.monotonic() < deadline, console.read_text(errors="replace")
                time.sleep(0.2)
            # its garbage collector is watched (hotline/memory.py: survivors of a full collection frozen)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
            assert "hotline_gc_full_collections_total" in metrics and "hotline_gc_thaws_total 0.0" in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    lines = console.read_text(errors="replace").splitlines()
    listening = next(line for line in lines if "gateway listening" in line)
    base = f"http://127.0.0.1:{port}"
    for address in (f"url={base}", f"desk={base}/desk", f"api={base}/api/openapi.json", f"health={base}/healthz"):
        assert address in listening
    loggers = {line.split()[3].rstrip(":") for line in lines if line[:2] == "20"}  # date time level logger:
    assert loggers and all(name.split(".")[0] in OWN_LOGGERS for name in loggers), lines
    assert not [line for line in lines if line[:2] != "20"], lines  # nothing printed around the records
    assert (tmp_path / "data" / "logs" / "debug.log").exists()


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in ("hotline", "jieba")}
    # an earlier test's setup_logging may have left warnings "captured" with pytest's per-test
    # recorder since restored in its place: start from the interpreter's own state
    logging.captureWarnings(False)
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def test_library_noise_goes_to_the_debug_log_not_the_console(tmp_path, monkeypatch, root_logging):
    console = io.StringIO()
    monkeypatch.setattr(sys, "stderr", console)
    debug_log = tmp_path / "logs" / "debug.log"
    setup_logging("INFO", False, debug_file=debug_log)
    # (warnings: other parts may have set these loggers' levels up to WARNING, not past it)
    logging.getLogger("absl").warning("oneDNN custom operations are on")
    logging.getLogger("rasa.core.noise").warning("some Rasa chatter")
    logging.getLogger("pyparsing").warning("warn_ungrouped_named_tokens_in_collection")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's DeprecationWarning", RuntimeWarning)
    logging.getLogger("hotline.bot").info("bot: ready")
    logging.getLogger("hotline.bot").debug("a detail for the debug log")
    logging.getLogger("sqlalchemy.pool").error("a library's error reaches the operator")
    for handler in logging.getLogger().handlers:
        handler.flush()
    shown, kept = console.getvalue(), debug_log.read_text(encoding="utf-8")
    assert "bot: ready" in shown and "a library's error reaches the operator" in shown
    for noise in ("oneDNN", "Rasa chatter", "warn_ungrouped", "DeprecationWarning", "a detail"):
        assert noise not in shown and noise in kept
