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
It prints creations per second and look-up latency percentiles, then where one creation's time
goes (bench/creation_profile.py: validation, KDF, the write and its indexes, the summaries, and
HTTP as the rest of one client's creation over HTTP), the KDF's own cost per case (one argon2id
hash and one verify with the configured case_kdf_* settings, in this process), the load average,
and whether the targets are met.
Load generator, gateway and PostgreSQL share the machine: on a small one, figures include them all.
On a busy machine compare code with --peer REF: the gateway of that git revision (e.g. main) is
measured in the same run, right before this tree's, on the same load.

    python bench/cases.py [--cases 10000] [--db sqlite|postgres|both] [--concurrency 20] [--peer main]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
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
sys.path.insert(0, str(ROOT))  # before bench/ (this script's folder), whose cases.py is this file

import creation_profile  # noqa: E402
from cases.credentials import SecretHasher  # noqa: E402
from hotline.settings import load_settings, replace  # noqa: E402

TARGET_CREATIONS_PER_S = 200
TARGET_LOOKUP_P99_MS = 20.0
SINGLE_CREATIONS = 100  # created one at a time by one client before the concurrent load

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

    def __init__(self, db_url: str, data_dir: Path, port: int, code: Path = ROOT):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / "gateway.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        self.env.update({
            "PYTHONPATH": str(code),  # the source tree measured: this one, or the --peer revision
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

    def cpu_s(self) -> float:
        """CPU seconds the gateway process has used (all its threads, user and system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

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


async def run_load(gw: Gateway, n: int, concurrency: int, latency_clients: int, loaded_sample: int) -> dict:
    url = gw.url
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    created: list[tuple[str, str] | None] = [None] * n
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        # warm up: connections, caches, the first argon2 allocations
        for i in range(min(concurrency, n)):
            async with http.post(url + "/api/cases", json=case_body(-1 - i)) as resp:
                assert resp.status == 201, await resp.text()

        # one client, one creation at a time: what a creation costs over HTTP without queueing
        single: list[float] = []
        for i in range(min(SINGLE_CREATIONS, n)):
            t0 = time.perf_counter()
            async with http.post(url + "/api/cases", json=case_body(-1000 - i)) as resp:
                await resp.read()
            single.append(time.perf_counter() - t0)
        single.sort()

        next_index = iter(range(n))

        async def creator():
            for i in next_index:
                async with http.post(url + "/api/cases", json=case_body(i)) as resp:
                    if resp.status != 201:
                        failures.append(f"create {i}: {resp.status} {(await resp.text())[:200]}")
                        continue
                    body = await resp.json()
                    created[i] = (body["number"], body["password"])

        start, cpu_start = time.perf_counter(), gw.cpu_s()
        await asyncio.gather(*(creator() for _ in range(concurrency)))
        create_s, create_cpu_s = time.perf_counter() - start, gw.cpu_s() - cpu_start
        made = [c for c in created if c]

        # every case, as citizens look them up: latency when the gateway is not saturated
        latency = await timed_lookups(http, url, made, latency_clients, failures)
        # a sample again with all clients at once: throughput, and latency when saturated
        sample = random.Random(1).sample(made, min(loaded_sample, len(made)))
        loaded = await timed_lookups(http, url, sample, concurrency, failures)

    return {"created": len(made), "create_s": create_s, "creations_per_s": len(made) / create_s,
            "single_p50_ms": percentile(single, 50) * 1000, "cpu_ms": create_cpu_s / max(1, len(made)) * 1000, "latency": latency, "loaded": loaded,
            "failures": failures}


@contextlib.contextmanager
def fresh_database(kind: str, pg_server: str, data_dir: Path):
    """The URL of a new, empty database: a SQLite file in data_dir, or a PostgreSQL database on
    pg_server that is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'hotline.db'}"
        return
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT", future=True)
    name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield str(sa.engine.make_url(pg_server).set(database=name))
    finally:
        with contextlib.suppress(sa.exc.OperationalError), admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


async def bench_db(kind: str, args, code: Path = ROOT) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"hotline-bench-{kind}-") as tmp, \
            fresh_database(kind, args.pg, Path(tmp)) as db_url:
        async with Gateway(db_url, Path(tmp), free_port(), code) as gw:
            return await run_load(gw, args.cases, args.concurrency, args.latency_clients, args.loaded_sample)


def profile_creation(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"hotline-profile-{kind}-") as tmp, contextlib.ExitStack() as stack:
        urls = [stack.enter_context(fresh_database(kind, args.pg, Path(tmp) / str(i))) for i in range(3)]
        settings = replace(load_settings(), lookup_per_client=100_000_000)  # one client makes every case
        return creation_profile.run(urls, settings, case_body, args.profile_cases)


@contextlib.contextmanager
def source_tree(revision: str):
    """The files of a git revision of this repository, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="hotline-peer-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True,
                                 stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def print_load(kind: str, label: str, r: dict, args) -> None:
    lat, load = r["latency"], r["loaded"]
    print(f"{kind:9s} create  ({args.concurrency} clients): {r['creations_per_s']:6.1f} cases/s "
          f"({r['created']} in {r['create_s']:.1f} s){label}; gateway CPU {r['cpu_ms']:.2f} ms per case; "
          f"one client, one at a time: p50 {r['single_p50_ms']:.1f} ms")
    print(f"{'':9s} lookup  ({args.latency_clients} client{'s' if args.latency_clients > 1 else ''}, "
          f"all {lat['n']} cases): p50 {lat['p50_ms']:5.1f} ms  p99 {lat['p99_ms']:5.1f} ms  "
          f"max {lat['max_ms']:6.1f} ms  ({lat['per_s']:.0f}/s)")
    print(f"{'':9s} lookup  ({args.concurrency} clients, {load['n']} cases, saturated): "
          f"p50 {load['p50_ms']:5.1f} ms  p99 {load['p99_ms']:5.1f} ms  max {load['max_ms']:6.1f} ms  "
          f"({load['per_s']:.0f}/s)")
    if r["failures"]:
        print(f"          {len(r['failures'])} failed requests, e.g. {r['failures'][:3]}")


def print_profile(p: dict) -> None:
    print(f"{'':9s} one creation, in this process, one at a time, measured in turns ({p['n']} rounds, median ms):")
    print(f"{'':9s}   over HTTP {p['http_total']:.2f} = HTTP (aiohttp both ends, JSON, middlewares, logging) "
          f"{p['http']:.2f} + in the store {p['store_total']:.2f}")
    print(f"{'':9s}   in the store = validation {p['validation']:.2f} + KDF {p['kdf']:.2f} (KDF thread) + "
          f"write {p['write']:.2f} + the rest {p['rest']:.2f} (Python around them, hand-offs between the "
          f"threads and the loop; medians do not add up exactly)")
    print(f"{'':9s}   write = rows and commit {p['rows_and_commit']:.2f} + text index {p['text_index']:.2f} + "
          f"{p['other_indexes_count']} other indexes {p['other_indexes']:.2f}")
    print(f"{'':9s}   report summaries: off the write path (refreshed from the event log every 10 min), "
          f"{p['summaries']:.3f} per case")


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


def loadavg() -> str:
    """/proc/loadavg's 1, 5 and 15 minute averages: how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    p.add_argument("--peer", metavar="REV", help="also measure the gateway of this git revision, in the same run")
    p.add_argument("--profile-cases", type=int, default=200, help="cases of the creation profile (default 200)")
    p.add_argument("--no-profile", action="store_true", help="skip the creation profile")
    args = p.parse_args(argv)

    print(f"{args.cases} cases, {args.concurrency} concurrent clients, {os.cpu_count()} CPUs, "
          f"gateway in its own process; load average {loadavg()}")
    missed = []
    with source_tree(args.peer) if args.peer else contextlib.nullcontext() as peer_code:
        for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
            try:
                peer = asyncio.run(bench_db(kind, args, peer_code)) if peer_code else None
                r = asyncio.run(bench_db(kind, args))
            except sa.exc.OperationalError as exc:
                print(f"{kind:9s} skipped: PostgreSQL not reachable at {args.pg} ({str(exc.orig).strip()})")
                missed.append(f"{kind}: not run")
                continue
            if peer:
                print_load(kind, f" at {args.peer}", peer, args)
            print_load(kind, f" this tree ({r['creations_per_s'] / peer['creations_per_s']:.2f}x; gateway CPU "
                       f"{r['cpu_ms'] / peer['cpu_ms']:.2f}x)" if peer else "", r, args)
            if not args.no_profile:
                print_profile(profile_creation(kind, args))
            print(f"{'':9s} load average {loadavg()}")
            if r["failures"]:
                missed.append(f"{kind}: failed requests")
            if r["creations_per_s"] < TARGET_CREATIONS_PER_S:
                missed.append(f"{kind}: creations/s below {TARGET_CREATIONS_PER_S}")
            if r["latency"]["p99_ms"] > TARGET_LOOKUP_P99_MS:
                missed.append(f"{kind}: lookup p99 above {TARGET_LOOKUP_P99_MS:.0f} ms")
    hash_ms, verify_ms, t_cost, m_kib = kdf_cost()
    print(f"KDF argon2id (t={t_cost}, m={m_kib} KiB, p=1), in-process: hash {hash_ms:.2f} ms, "
          f"verify {verify_ms:.2f} ms per case")
    print("targets: >= %d creations/s with %d clients, lookup p99 <= %.0f ms with %d client(s): %s" % (
        TARGET_CREATIONS_PER_S, args.concurrency, TARGET_LOOKUP_P99_MS, args.latency_clients,
        "met" if not missed else "MISSED (" + "; ".join(missed) + ")"))
    print("(saturated latency is queueing: with N clients always waiting, p50 is about N / throughput)")
    print(f"load average at the end {loadavg()} (on a busy machine, compare with --peer figures of the same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
