"""Scale-out benchmark: the same chat load against one gateway process and against two
(`hotline run --workers 2`, SO_REUSEPORT), in one run, on PostgreSQL and Redis; then many
concurrent web chats held open against the two.

1. paced and saturated chat over the WebSocket (bench/dialogue.py's scripts and loads) against
   1 process, then 2 processes: turns per second, p50/p99, and the saturated ratio 2/1;
2. `--chats` (default 500) conversations open at once against 2 processes for `--hold` seconds
   (default 60; `--full` holds them 5 minutes), each citizen taking `--chat-think` seconds
   (default 5-15) between the bot's answer and the next message, scripts repeating: p50/p99 turn.

Each phase prints the load average beside its figures: the ratio needs two idle cores to mean
anything (a busy machine gives the second process no core of its own).
Usage: python bench/scale.py [--conversations 200] [--concurrency 50] [--chats 500] [--hold 60] [--full]
                            [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--redis redis://127.0.0.1:6379/8]
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_spec = importlib.util.spec_from_file_location("bench_dialogue", ROOT / "bench" / "dialogue.py")
dialogue = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dialogue)


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def create_database(server: str) -> str:
    import sqlalchemy as sa

    name = f"hotline_scale_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return str(sa.engine.make_url(server).set(database=name))


def drop_database(server: str, url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def start_gateways(workers: int, env: dict, log: Path) -> subprocess.Popen:
    proc = dialogue.start([str(BIN / "hotline"), "run", "--no-migrate", "--workers", str(workers)], env, log)
    deadline = time.monotonic() + 1200
    # every worker writes its own "gateway listening" line into the shared log
    while log.read_text(errors="replace").count("gateway listening") < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the gateways did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(1)
    return proc


async def held_chats(base: str, chats: int, hold_s: float, think_s: tuple[float, float]) -> dict:
    """`chats` conversations open at once for `hold_s`; each citizen thinks between turns."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + hold_s
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
        async def citizen(i: int) -> None:
            nonlocal errors
            rng = random.Random(i)
            await asyncio.sleep(rng.uniform(0, think_s[1]))  # not all at once
            async with http.ws_connect(base.replace("http", "ws") + "/ws/chat", heartbeat=None) as ws:
                await ws.send_json({"type": "hello", "session": None})
                await ws.receive()
                n = 0
                while time.monotonic() < stop_at:
                    for text in dialogue.script(200_000 + i * 1000 + n):
                        if time.monotonic() >= stop_at:
                            return
                        start = time.perf_counter()
                        await ws.send_json({"type": "message", "text": text})
                        while True:
                            frame = json.loads((await ws.receive(timeout=120)).data)
                            if frame["type"] in ("idle", "error"):
                                errors += frame["type"] == "error"
                                break
                        latencies.append(time.perf_counter() - start)
                        await asyncio.sleep(rng.uniform(*think_s))
                    n += 1

        started = time.monotonic()
        await asyncio.gather(*(citizen(i) for i in range(chats)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {"turns": len(latencies), "turns_per_s": len(latencies) / elapsed, "errors": errors,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--think", default="1,3", help="think time of the paced load (s)")
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--hold", type=float, default=60.0, help="how long the many chats are held (s)")
    parser.add_argument("--full", action="store_true", help="hold the many chats 5 minutes")
    parser.add_argument("--chat-think", default="5,15", help="think time of the held chats (s)")
    parser.add_argument("--skip-ratio", action="store_true", help="only the held chats")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    hold = 300.0 if args.full else args.hold
    think = tuple(float(x) for x in args.think.split(","))
    chat_think = tuple(float(x) for x in args.chat_think.split(","))

    sys.path.insert(0, str(ROOT))
    from bot.training import ensure_model
    ensure_model(ROOT / "models")
    import redis
    redis.Redis.from_url(args.redis).flushdb()
    db_url = create_database(args.pg)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATA_DIR=str(work / "data"), HOTLINE_DB_URL=db_url, HOTLINE_REDIS_URL=args.redis,
               HOTLINE_LOCK_STORE_URL=args.redis, HOTLINE_LOG_LEVEL="INFO",  # "gateway listening" tells a worker is up
               HOTLINE_BOT_MODEL_DIR=str(ROOT / "models"), HOTLINE_AGI_PORT="0")
    results: dict = {}
    proc = None
    try:
        for step in (["db", "upgrade"], ["demo-data", "--no-users"]):
            subprocess.run([str(BIN / "hotline"), *step], env=env, cwd=ROOT, check=True, capture_output=True)
        for workers in ((1, 2) if not args.skip_ratio else (2,)):
            port = dialogue.free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start_gateways(workers, {**env, "HOTLINE_HTTP_PORT": str(port)}, work / f"gateways{workers}.log")
            for phase, think_s, first in (("paced", think, 300_000 * workers),
                                          ("saturated", (0.0, 0.0), 300_000 * workers + 100_000)):
                if args.skip_ratio:
                    break
                before = loadavg()
                r = asyncio.run(dialogue.load(base, args.conversations, args.concurrency, "ws", think_s, first))
                r["load"] = f"{before} → {loadavg()}"
                results[(workers, phase)] = r
                print(f"{workers} process{'es' if workers > 1 else ''}, {phase:9s}: {r['turns_per_s']:6.1f} turns/s  "
                      f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  ({r['turns']} turns; load {r['load']})",
                      flush=True)
            if workers == 2:  # the many held chats, on the same two processes
                before = loadavg()
                held = asyncio.run(held_chats(base, args.chats, hold, chat_think))
                print(f"{args.chats} chats held {hold:.0f} s on 2 processes (think {args.chat_think} s): "
                      f"{held['turns_per_s']:.1f} turns/s  p50 {held['p50_ms']:.1f} ms  p99 {held['p99_ms']:.1f} ms  "
                      f"({held['turns']} turns, {held['errors']} errors; load {before} → {loadavg()})", flush=True)
            dialogue.stop(proc)
            proc = None
        if not args.skip_ratio:
            one, two = results[(1, "saturated")], results[(2, "saturated")]
            print(f"saturated ratio 2 processes / 1 process: {two['turns_per_s'] / one['turns_per_s']:.2f}x "
                  f"on {os.cpu_count()} cores")
    except Exception:
        for log in sorted(work.glob("*.log")):
            print(f"--- last lines of {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        raise
    finally:
        if proc is not None:
            dialogue.stop(proc)
        drop_database(args.pg, db_url)


if __name__ == "__main__":
    main()
