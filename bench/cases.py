"""Benchmark: case creation and look-up over HTTP against the real gateway.

The gateway runs as its own process (`hotline run`, as in production), so the load generator in
this process does not share its event loop. For each database it:
  1. creates an empty database (SQLite file in a temporary directory, or a fresh PostgreSQL
     database on the server named by --pg, dropped at the end) and loads the reference data;
  2. starts the gateway with look-up rate limits high enough not to interfere;
  3. creates --cases cases with POST /api/cases from --concurrency concurrent clients;
  4. looks every case up with POST /api/cases/lookup from --latency-clients clients (default 1),
     timing each request: the latency a citizen sees when the gateway is not saturated;
  5. looks a sample up again from --concurrency clients at once: lookup throughput, and the
     (queueing) latency of a saturated gateway.
It prints creations per second and look-up latency percentiles, then the KDF's own cost per case
(one argon2id hash and one verify with the configured case_kdf_* settings, in this process).
Load generator, gateway and PostgreSQL share the machine: on a small one, figures include them all.

    python bench/cases.py [--cases 10000] [--db sqlite|postgres|both] [--concurrency 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cases.credentials import SecretHasher  # noqa: E402
from hotline.settings import load_settings  # noqa: E402

TARGET_CREATIONS_PER_S = 200
TARGET_LOOKUP_P99_MS = 20.0

KINDS = ["complaint", "consultation", "report", "suggestion", "help"]
CATEGORIES = [None, "hjbh.zswr", "hjbh.dqwr", "cxjs.wygl", "cxjs.szss"]
PLACES = ["光明路菜市场", "幸福小区东门", "人民公园南门", "解放大道与建设路路口", "滨江花园3栋"]
ISSUES = ["油烟太大，每天中午熏得没法开窗", "夜里施工噪音很大，影响休息", "路灯坏了一个多月没人修",
          "垃圾桶满了好几天没人清运", "小区电梯经常停运，老人上下楼很困难"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def case_body(i: int) -> dict:
    rnd = random.Random(i)
    body = {"kind": rnd.choice(KINDS), "location": rnd.choice(PLACES),
            "description": f"{rnd.choice(PLACES)}{rnd.choice(ISSUES)}（第{i}号测试）",
            "contact_name": "王先生", "contact_phone": f"139{rnd.randrange(10**8):08d}"}
    category = rnd.choice(CATEGORIES)
    if category:
        body["category"] = category
    return body


# ---- the gateway process ----------------------------------------------------------------------
class Gateway:
    """`hotline run` in a child process, with its settings in the environment."""

    def __init__(self, db_url: str, data_dir: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / "gateway.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        self.env.update({
            "HOTLINE_DATA_DIR": str(data_dir), "HOTLINE_DB_URL": db_url, "HOTLINE_HTTP_PORT": str(port),
            "HOTLINE_HTTP_HOST": "127.0.0.1", "HOTLINE_BOT_ENABLED": "false",
            # every look-up comes from one address and the limits would stop the benchmark
            "HOTLINE_LOOKUP_PER_CLIENT": "100000000", "HOTLINE_LOOKUP_PER_CASE": "1000",
            "HOTLINE_CONFIG": os.environ.get("HOTLINE_CONFIG", ""),
        })
        if not self.env["HOTLINE_CONFIG"]:
            del self.env["HOTLINE_CONFIG"]
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "hotline.cli", *args], env=self.env, cwd=self.data_dir,
                       check=True, stdout=subprocess.DEVNULL)

    async def __aenter__(self) -> "Gateway":
        self.cli("db", "upgrade")
        self.cli("demo-data", "--no-users")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "run", "--no-migrate"], env=self.env,
                                     cwd=self.data_dir, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the gateway exited with {self.proc.returncode}; see {self.log_path}:\n"
                                       + self.log_path.read_text(errors="replace")[-2000:])
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the gateway did not answer /healthz within 60 s")
                await asyncio.sleep(0.1)

    async def __aexit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- load ---------------------------------------------------------------------------------------
async def timed_lookups(http, url: str, cases: list[tuple[str, str]], clients: int, failures: list[str]) -> dict:
    """Look every case in `cases` up from `clients` concurrent clients, timing each request."""
    todo = iter(cases)
    latencies: list[float] = []

    async def looker():
        for number, password in todo:
            t0 = time.perf_counter()
            async with http.post(url + "/api/cases/lookup", json={"number": number, "password": password}) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - t0)
            if resp.status != 200:
                failures.append(f"lookup {number}: {resp.status}")

    start = time.perf_counter()
    await asyncio.gather(*(looker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"n": len(latencies), "per_s": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": latencies[-1] * 1000 if latencies else float("nan")}


async def run_load(url: str, n: int, concurrency: int, latency_clients: int, loaded_sample: int) -> dict:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    created: list[tuple[str, str] | None] = [None] * n
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        # warm up: connections, caches, the first argon2 allocations
        for i in range(min(concurrency, n)):
            async with http.post(url + "/api/cases", json=case_body(-1 - i)) as resp:
                assert resp.status == 201, await resp.text()

        next_index = iter(range(n))

        async def creator():
            for i in next_index:
                async with http.post(url + "/api/cases", json=case_body(i)) as resp:
                    if resp.status != 201:
                        failures.append(f"create {i}: {resp.status} {(await resp.text())[:200]}")
                        continue
                    body = await resp.json()
                    created[i] = (body["number"], body["password"])

        start = time.perf_counter()
        await asyncio.gather(*(creator() for _ in range(concurrency)))
        create_s = time.perf_counter() - start
        made = [c for c in created if c]

        # every case, as citizens look them up: latency when the gateway is not saturated
        latency = await timed_lookups(http, url, made, latency_clients, failures)
        # a sample again with all clients at once: throughput, and latency when saturated
        sample = random.Random(1).sample(made, min(loaded_sample, len(made)))
        loaded = await timed_lookups(http, url, sample, concurrency, failures)

    return {"created": len(made), "create_s": create_s, "creations_per_s": len(made) / create_s,
            "latency": latency, "loaded": loaded, "failures": failures}


async def bench_db(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"hotline-bench-{kind}-") as tmp:
        data_dir = Path(tmp)
        admin = None
        if kind == "sqlite":
            db_url = f"sqlite:///{data_dir / 'hotline.db'}"
        else:
            admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT", future=True)
            name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            db_url = str(sa.engine.make_url(args.pg).set(database=name))
        try:
            async with Gateway(db_url, data_dir, free_port()) as gw:
                result = await run_load(gw.url, args.cases, args.concurrency, args.latency_clients,
                                        args.loaded_sample)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    return result


def kdf_cost(rounds: int = 50) -> tuple[float, float, int, int]:
    s = load_settings()
    hasher = SecretHasher(s.case_kdf_time_cost, s.case_kdf_memory_kib)
    stored = [hasher.hash_sync(f"{i:06d}") for i in range(5)]  # warm up
    t0 = time.perf_counter()
    for i in range(rounds):
        stored.append(hasher.hash_sync(f"{i:06d}"))
    hash_ms = (time.perf_counter() - t0) / rounds * 1000
    t0 = time.perf_counter()
    for i in range(rounds):
        assert hasher.verify_sync(stored[5 + i], f"{i:06d}")
    verify_ms = (time.perf_counter() - t0) / rounds * 1000
    return hash_ms, verify_ms, s.case_kdf_time_cost, s.case_kdf_memory_kib


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000, help="cases to create and look up (default 10000)")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--concurrency", type=int, default=20, help="concurrent HTTP clients (default 20)")
    p.add_argument("--latency-clients", type=int, default=1,
                   help="clients for the latency pass over every case (default 1: an unsaturated gateway)")
    p.add_argument("--loaded-sample", type=int, default=3000,
                   help="cases looked up again by all --concurrency clients at once (default 3000)")
    p.add_argument("--pg", default=os.environ.get("HOTLINE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="PostgreSQL server (a database there is created and dropped)")
    args = p.parse_args(argv)

    print(f"{args.cases} cases, {args.concurrency} concurrent clients, {os.cpu_count()} CPUs, "
          f"gateway in its own process")
    missed = []
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        try:
            r = asyncio.run(bench_db(kind, args))
        except sa.exc.OperationalError as exc:
            print(f"{kind:9s} skipped: PostgreSQL not reachable at {args.pg} ({str(exc.orig).strip()})")
            missed.append(f"{kind}: not run")
            continue
        lat, load = r["latency"], r["loaded"]
        print(f"{kind:9s} create  ({args.concurrency} clients): {r['creations_per_s']:6.1f} cases/s "
              f"({r['created']} in {r['create_s']:.1f} s)")
        print(f"{'':9s} lookup  ({args.latency_clients} client{'s' if args.latency_clients > 1 else ''}, "
              f"all {lat['n']} cases): p50 {lat['p50_ms']:5.1f} ms  p99 {lat['p99_ms']:5.1f} ms  "
              f"max {lat['max_ms']:6.1f} ms  ({lat['per_s']:.0f}/s)")
        print(f"{'':9s} lookup  ({args.concurrency} clients, {load['n']} cases, saturated): "
              f"p50 {load['p50_ms']:5.1f} ms  p99 {load['p99_ms']:5.1f} ms  max {load['max_ms']:6.1f} ms  "
              f"({load['per_s']:.0f}/s)")
        if r["failures"]:
            print(f"          {len(r['failures'])} failed requests, e.g. {r['failures'][:3]}")
            missed.append(f"{kind}: failed requests")
        if r["creations_per_s"] < TARGET_CREATIONS_PER_S:
            missed.append(f"{kind}: creations/s below {TARGET_CREATIONS_PER_S}")
        if lat["p99_ms"] > TARGET_LOOKUP_P99_MS:
            missed.append(f"{kind}: lookup p99 above {TARGET_LOOKUP_P99_MS:.0f} ms")
    hash_ms, verify_ms, t_cost, m_kib = kdf_cost()
    print(f"KDF argon2id (t={t_cost}, m={m_kib} KiB, p=1), in-process: hash {hash_ms:.2f} ms, "
          f"verify {verify_ms:.2f} ms per case")
    print("targets: >= %d creations/s with %d clients, lookup p99 <= %.0f ms with %d client(s): %s" % (
        TARGET_CREATIONS_PER_S, args.concurrency, TARGET_LOOKUP_P99_MS, args.latency_clients,
        "met" if not missed else "MISSED (" + "; ".join(missed) + ")"))
    print("(saturated latency is queueing: with N clients always waiting, p50 is about N / throughput)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
