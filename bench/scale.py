"""Scale-out benchmark: the same chat load, with mail arriving at the same time, against one gateway
process and against two (`hotline run --workers 2`, SO_REUSEPORT), in one run, on PostgreSQL and
Redis; then many concurrent web chats held open against the two.

1. paced chat (`--conversations`, `--concurrency` at a time, thinking `--think` s) against 1
   process, then 2; then saturated chat (`--concurrency` citizens answering at once, looping over
   bench/dialogue.py's scripts; the turns answered in a `--window` s after `--warm` s count),
   1 process and 2 taking turns `--rounds` times (both sizes run throughout, each idle while the
   other is measured): turns per second, p50/p99 turn, and the saturated ratio 2/1, the median of
   the rounds'; during every phase citizens' mails
   reach the gateways' mailbox (a dovecot of the bench's own) at `--mail-rate` a second, each to
   become a case (`--mail-rate 0`, or no dovecot installed: chat only);
2. `--chats` (500) conversations open at once against the 2 processes for `--hold` seconds (300:
   the issue's five minutes), each citizen thinking `--chat-think` seconds (5-15) between the
   bot's answer and the next message, scripts repeating: p50/p99 turn.

The ratio means something only if the two processes get a core each: every phase prints the load
average before and after, and the CPU the gateways and this load generator used (in cores). The
generator is kept cheap for that: plain WebSocket frames (the `websockets` package's C-assisted
client, no compression, no heartbeats) on uvloop, one process. A saturated two-process phase whose
gateways used well under 2 cores was starved (by the generator, or by others on the machine).

The gateways' Redis keys go under a prefix of this run's own (`redis_prefix`), deleted at the end:
the Redis may be shared (never FLUSHDB).
Usage: python bench/scale.py [--conversations 200] [--concurrency 50] [--warm 10] [--window 30] [--rounds 3]
                            [--turn-concurrency N] [--event-loop uvloop|asyncio (uvloop)] [--chats 500] [--hold 300]
                            [--mail-rate 0.5] [--skip-ratio] [--skip-held]
                            [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--redis redis://127.0.0.1:6379/0]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import websockets
import websockets.exceptions

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dialogue = _bench_module("dialogue")  # the citizens' scripts, starting and stopping processes
mailbench = _bench_module("mail")      # citizens' mails, delivered by IMAP APPEND (and tests' dovecot)


# ---- what the machine did ----------------------------------------------------------------------
def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def machine_cpu() -> tuple[float, float, float]:
    """(busy, idle, stolen) seconds of every core so far (/proc/stat): what no process figure
    shows, e.g. whether a saturated phase left a core idle, or the virtual machine's host took it."""
    fields = [int(x) / CLOCK_TICKS for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, stolen = fields[3] + fields[4], fields[7]  # idle + iowait; steal
    return sum(fields) - idle - stolen, idle, stolen


def servers() -> list[int]:
    """PostgreSQL's and Redis's processes on this machine (on a quiet machine: the gateways' alone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().split(" (", 1)[1].split(")", 1)[0] in ("postgres", "redis-server"):
                found.append(int(stat.parent.name))
    return found


def store_work(db_url: str, redis_url: str) -> dict[str, float]:
    """What the stores have done so far: this database's transactions and rows, Redis's commands
    (the whole server's: on a quiet machine, the gateways'). Per turn, these say where the stores'
    CPU goes."""
    import redis
    import sqlalchemy as sa

    engine = sa.create_engine(db_url, future=True)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT xact_commit + xact_rollback, tup_returned, tup_fetched, tup_inserted + tup_updated "
                "+ tup_deleted FROM pg_stat_database WHERE datname = current_database()")).one()
    finally:
        engine.dispose()
    client = redis.Redis.from_url(redis_url)
    try:
        commands = client.info("commandstats")
    finally:
        client.close()
    work = dict(zip(("pg transactions", "pg rows scanned", "pg rows fetched", "pg rows written"), map(float, row)))
    work["redis commands"] = float(sum(c["calls"] for c in commands.values()))
    for name, c in commands.items():
        work[f"redis {name.removeprefix('cmdstat_')}"] = float(c["calls"])
    return work


class Meter:
    """Wall time, load average and CPU (the gateways', the database's and Redis's, the generator's)
    over one phase, and the stores' work per turn: CPU per turn is what sizes a deployment
    (docs/capacity.md), and is what bounds the 2/1 ratio on one machine."""

    def __init__(self, gateway_pid: int, db_url: str, redis_url: str):
        self.gateway_pid, self.db_url, self.redis_url = gateway_pid, db_url, redis_url
        self.restart()

    def restart(self) -> None:
        """Measure from now (a phase's steady state begins after its warm-up)."""
        self.pids = process_tree(self.gateway_pid)
        self.load, self.wall, self.mine = loadavg(), time.monotonic(), own_cpu()
        self.theirs, self.stores = cpu_of(self.pids), {pid: cpu_of([pid]) for pid in servers()}
        self.machine = machine_cpu()
        self.work = store_work(self.db_url, self.redis_url)

    def done(self, turns: int) -> str:
        wall = time.monotonic() - self.wall
        gateways, generator = cpu_of(self.pids) - self.theirs, own_cpu() - self.mine
        # connections made during the phase are new backends: counted from zero
        stores = sum(cpu_of([pid]) - self.stores.get(pid, 0.0) for pid in servers())
        work = store_work(self.db_url, self.redis_url)
        busy, idle, stolen = (now - before for now, before in zip(machine_cpu(), self.machine))
        per_turn = lambda cpu: f"{1000 * cpu / max(1, turns):.2f}"  # noqa: E731
        busiest = sorted(((work[k] - self.work.get(k, 0.0), k) for k in work if k.startswith("redis ")
                          and k != "redis commands"), reverse=True)[:4]
        stored = ", ".join(f"{k} {(work[k] - self.work.get(k, 0.0)) / max(1, turns):.1f}" for k in
                           ("pg transactions", "pg rows scanned", "pg rows fetched", "pg rows written",
                            "redis commands"))
        stored += " (" + ", ".join(f"{k[6:]} {n / max(1, turns):.1f}" for n, k in busiest) + ")"
        return (f"load {self.load} → {loadavg()}; cores used: gateways {gateways / wall:.2f}, PostgreSQL and Redis "
                f"{stores / wall:.2f}, generator {generator / wall:.2f}, the whole machine {busy / wall:.2f} "
                f"(idle {idle / wall:.2f}, stolen {stolen / wall:.2f}); CPU ms per turn: gateways "
                f"{per_turn(gateways)}, PostgreSQL and Redis {per_turn(stores)}, generator {per_turn(generator)}; "
                f"per turn: {stored}")


# ---- the load generator ------------------------------------------------------------------------
class Turns:
    def __init__(self):
        self.latencies: list[float] = []
        self.answered: list[float] = []  # when each turn was answered (monotonic), for the by-minute tail
        self.errors = 0    # turns answered with an error frame, and conversations cut off

    def figures(self, elapsed: float) -> dict:
        figures = {"turns": len(self.latencies), "turns_per_s": len(self.latencies) / elapsed,
                   "errors": self.errors, **_tail(self.latencies)}
        if elapsed >= 120:  # a long phase: whether its tail grows as the cases pile up, or comes in bursts
            start, minutes = min(self.answered, default=0.0), {}
            for at, latency in zip(self.answered, self.latencies):
                minutes.setdefault(int((at - start) // 60), []).append(latency)
            figures["p99_by_minute"] = [round(_tail(minutes[m])["p99_ms"]) for m in sorted(minutes)]
        return figures


def _tail(latencies: list[float]) -> dict:
    ordered = sorted(latencies) or [float("nan")]
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


HELLO = json.dumps({"type": "hello", "session": None})
CUT_OFF = (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException)


@contextlib.asynccontextmanager
async def chat(uri: str):
    async with websockets.connect(uri, compression=None, ping_interval=None, max_queue=None,
                                  open_timeout=120, close_timeout=5) as ws:
        await ws.send(HELLO)
        await ws.recv()  # welcome
        yield ws


async def turn(ws, text: str, turns: Turns) -> None:
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "text": text}, ensure_ascii=False))
    while True:  # the bot's lines until its "idle" (or an error): only those two are decoded
        frame = await ws.recv()
        if ('"idle"' in frame or '"error"' in frame) and (kind := json.loads(frame)["type"]) in ("idle", "error"):
            break
    turns.latencies.append(time.perf_counter() - started)
    turns.answered.append(time.monotonic())
    turns.errors += kind == "error"


async def conversations(uri: str, count: int, concurrency: int, think_s: tuple[float, float], first: int) -> dict:
    """`count` conversations (dialogue's scripts from `first` on), `concurrency` at a time."""
    rng = random.Random(first)
    gate = asyncio.Semaphore(concurrency)
    turns = Turns()

    async def one(i: int) -> None:
        try:
            async with gate, chat(uri) as ws:
                for text in dialogue.script(i):
                    if think_s[1]:
                        await asyncio.sleep(rng.uniform(*think_s))
                    await turn(ws, text, turns)
        except CUT_OFF as exc:
            turns.errors += 1
            print(f"conversation {i} cut off: {exc!r}", flush=True)

    for i in range(dialogue.WARM_UP, dialogue.WARM_UP + dialogue.SCRIPTS):  # not measured
        await one(i)
    turns = Turns()
    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(first + i) for i in range(count))), timeout=3600)
    return turns.figures(time.perf_counter() - started)


async def saturated(uri: str, concurrency: int, warm_s: float, window_s: float, first: int, meter: Meter) -> dict:
    """`concurrency` citizens who answer at once, each looping over conversations, for `warm_s` and
    then `window_s`: only the turns answered inside the window count. A fixed number of turns would
    count the start (all conversations opening at once) and the tail (the last few, the gateways
    under-fed) in the rate; a window in the steady state measures what the processes sustain."""
    counted, ignored = Turns(), Turns()
    window: list[float] = []  # [start, end] on the monotonic clock, set once warm
    stop_at = time.monotonic() + warm_s + window_s

    async def citizen(c: int) -> None:
        scratch, n = Turns(), 0
        while time.monotonic() < stop_at:
            try:
                async with chat(uri) as ws:
                    # dialogue.script(i) follows script i % 5: citizen c starts at script c % 5, so
                    # the five are always in the mix (with c * 10_000 all fifty ran the same script
                    # at once, and a window caught a changing mix: CPU per turn moved by a fifth)
                    for text in dialogue.script(first + c * 10_001 + n):
                        if time.monotonic() >= stop_at:
                            return
                        await turn(ws, text, scratch)
                        answered = scratch.answered[-1]  # a turn counts where it was answered
                        into = counted if window and window[0] <= answered <= stop_at else ignored
                        into.latencies.append(scratch.latencies.pop())
                        into.answered.append(scratch.answered.pop())
                        into.errors, scratch.errors = into.errors + scratch.errors, 0
            except CUT_OFF as exc:
                counted.errors += 1
                print(f"saturated citizen {c} cut off: {exc!r}", flush=True)
            n += 1

    async def open_window() -> None:
        await asyncio.sleep(warm_s)
        meter.restart()
        window.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(open_window(), *(citizen(c) for c in range(concurrency))),
                           timeout=warm_s + window_s + 600)
    return counted.figures(window_s)


async def held_chats(uri: str, chats: int, hold_s: float, think_s: tuple[float, float]) -> dict:
    """`chats` conversations open at once for `hold_s`; each citizen thinks between turns."""
    turns = Turns()
    stop_at = time.monotonic() + think_s[1] + hold_s

    async def citizen(i: int) -> None:
        rng = random.Random(i)
        await asyncio.sleep(rng.uniform(0, think_s[1]))  # not all at once
        try:
            async with chat(uri) as ws:
                n = 0
                while True:
                    for text in dialogue.script(200_000 + i * 1001 + n):  # citizen i starts at script i % 5
                        if time.monotonic() >= stop_at:
                            return
                        await turn(ws, text, turns)
                        await asyncio.sleep(rng.uniform(*think_s))
                    n += 1
        except CUT_OFF as exc:
            turns.errors += 1
            print(f"chat {i} cut off: {exc!r}", flush=True)

    started = time.monotonic()
    # a gateway that stops answering ends the phase with an error rather than hanging
    await asyncio.wait_for(asyncio.gather(*(citizen(i) for i in range(chats))), timeout=hold_s + think_s[1] + 600)
    return turns.figures(time.monotonic() - started)


# ---- mail at the same time ---------------------------------------------------------------------
class MailLoad:
    """Citizens' mails APPENDed to the gateways' mailbox at a steady rate while the chats run; each
    must become one case."""

    def __init__(self, dovecot, user: str, rate: float):
        self.dovecot, self.user, self.rate = dovecot, user, rate
        self.delivered: dict[str, float] = {}  # Message-ID → when the mailbox had it (wall clock)
        self.sent = 0

    async def run(self, stop: asyncio.Event, tag: str) -> None:
        client = await self.dovecot.client(self.user)
        try:
            started, n = time.monotonic(), 0
            while not stop.is_set():
                raw, mid, _ = mailbench.citizen_mail(self.sent, tag)
                await client.append(raw, mailbox="INBOX")
                self.delivered[mid] = time.time()
                self.sent, n = self.sent + 1, n + 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, started + n / self.rate - time.monotonic()))
        finally:
            await client.logout()

    def cases(self, db_url: str) -> dict[str, float]:
        """Message-ID → seconds from delivery to its case (the mails of this load made into cases)."""
        import sqlalchemy as sa

        engine = sa.create_engine(db_url, future=True)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT m.message_id, c.created_at FROM mail_messages m "
                                            "JOIN cases c ON c.id = m.case_id")).all()
        finally:
            engine.dispose()
        return {mid: created.replace(tzinfo=dt.timezone.utc).timestamp() - self.delivered[mid]
                for mid, created in rows if mid in self.delivered}

    async def settle(self, db_url: str, timeout_s: float = 180) -> str:
        deadline = time.monotonic() + timeout_s
        while len(done := self.cases(db_url)) < len(self.delivered) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        took = sorted(done.values()) or [float("nan")]
        return (f"mail: {len(self.delivered)} delivered, {len(done)} made cases, delivery to case "
                f"p50 {statistics.median(took):.1f} s, max {took[-1]:.1f} s")


async def phase(name: str, work, meter: Meter, mail: MailLoad | None, db_url: str) -> dict:
    stop = asyncio.Event()
    mailing = asyncio.create_task(mail.run(stop, f"{name}-{uuid.uuid4().hex[:6]}")) if mail else None
    try:
        result = await work
    finally:
        stop.set()
        if mailing:
            await mailing
    result["machine"] = meter.done(result["turns"])
    result["mail"] = await mail.settle(db_url) if mail else "mail: off"
    if mail:
        mail.delivered.clear()
    return result


# ---- the run -----------------------------------------------------------------------------------
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


def start_gateways(workers: int, env: dict, log: Path):
    proc = dialogue.start([str(BIN / "hotline"), "run", "--no-migrate", "--workers", str(workers)], env, log)
    deadline = time.monotonic() + 1200
    # every worker writes its own "gateway listening" line into the shared log
    while log.read_text(errors="replace").count("gateway listening") < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the gateways did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(1)
    time.sleep(2)  # the mailbox's reader takes its lease and logs in
    return proc


def show(label: str, r: dict) -> None:
    print(f"{label}: {r['turns_per_s']:6.1f} turns/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
          f"({r['turns']} turns, {r['errors']} errors; {r['machine']}; {r['mail']})", flush=True)
    if "p99_by_minute" in r:
        print(f"  p99 by minute (ms): {', '.join(map(str, r['p99_by_minute']))}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--think", default="1,3", help="think time of the paced load (s)")
    parser.add_argument("--warm", type=float, default=10.0, help="saturated: seconds before the window opens")
    parser.add_argument("--window", type=float, default=30.0, help="saturated: seconds whose answered turns count")
    parser.add_argument("--rounds", type=int, default=3, help="saturated windows of each size, alternating")
    parser.add_argument("--turn-concurrency", type=int, default=0,
                        help="the gateways' bot_turn_concurrency (0: their default)")
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the gateways' event_loop (uvloop: the chat and mail processes' choice; no AMI here)")
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--hold", type=float, default=300.0, help="how long the many chats are held (s)")
    parser.add_argument("--chat-think", default="5,15", help="think time of the held chats (s)")
    parser.add_argument("--mail-rate", type=float, default=0.5, help="mails a second during each phase (0: none)")
    parser.add_argument("--skip-ratio", action="store_true", help="only the held chats")
    parser.add_argument("--skip-held", action="store_true", help="only the 1 and 2 process ratio")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    chat_think = tuple(float(x) for x in args.chat_think.split(","))
    with contextlib.suppress(ImportError):  # the generator's own loop: cheaper per frame
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    sys.path.insert(0, str(ROOT))
    import redis

    from bot.training import ensure_model
    from hotline.shared import delete_prefixed
    ensure_model(ROOT / "models")
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}:"
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_REDIS_URL=args.redis, HOTLINE_LOCK_STORE_URL=args.redis,
               HOTLINE_LOG_LEVEL="INFO",  # "gateway listening" tells a worker is up
               HOTLINE_BOT_MODEL_DIR=str(ROOT / "models"), HOTLINE_AGI_PORT="0", HOTLINE_AUDIOSOCKET_PORT="0")
    if args.turn_concurrency:
        env["HOTLINE_BOT_TURN_CONCURRENCY"] = str(args.turn_concurrency)
    if args.event_loop:
        env["HOTLINE_EVENT_LOOP"] = args.event_loop
    dovecot = None
    if args.mail_rate > 0 and mailbench.dovecot_available():
        dovecot = mailbench.Dovecot().start()
        env.update(HOTLINE_MAIL_FROM=mailbench.HOTLINE, HOTLINE_MAIL_POLL_S="2")
    elif args.mail_rate > 0:
        print("mail: off (dovecot is not installed: make system-deps)", flush=True)
    print(f"load average at the start: {loadavg()} ({os.cpu_count()} cores)", flush=True)
    sizes = () if args.skip_ratio else (1, 2)
    if not args.skip_held and 2 not in sizes:
        sizes += (2,)
    running: dict[int, Size] = {}
    try:
        for workers in sizes:  # both sizes up at once: their windows alternate (below)
            running[workers] = Size(workers, env, args.pg, prefix, work, dovecot, args.mail_rate)
        if not args.skip_ratio:
            for workers in (1, 2):
                show(f"{running[workers].label}, paced", running[workers].run(
                    "paced", conversations(running[workers].uri, args.conversations, args.concurrency, think,
                                           300_000 * workers)))
            # The machine's speed drifts (a virtual machine's neighbours; seen here: a gateway's CPU
            # per turn moving by a fifth between runs minutes apart), so one window of each size
            # compares two moments as much as two sizes: they alternate, `--rounds` times, and the
            # ratio is the median of the rounds'.
            ratios, totals = [], {1: 0.0, 2: 0.0}
            for n in range(args.rounds):
                rates = {}
                for workers in (1, 2):
                    size = running[workers]
                    r = size.run("saturated", saturated(size.uri, args.concurrency, args.warm, args.window,
                                                        300_000 * workers + 100_000 + n * 1_000_000, size.meter()),
                                 meter=size.last_meter)
                    show(f"round {n + 1}, {size.label}, saturated", r)
                    rates[workers] = r["turns_per_s"]
                    totals[workers] += r["turns_per_s"]
                ratios.append(rates[2] / rates[1])
                print(f"round {n + 1}: ratio 2 processes / 1 process {ratios[-1]:.2f}x", flush=True)
            print(f"saturated ratio 2 processes / 1 process: median {statistics.median(ratios):.2f}x of "
                  f"{len(ratios)} rounds ({', '.join(f'{x:.2f}' for x in ratios)}; mean rates "
                  f"{totals[1] / len(ratios):.1f} and {totals[2] / len(ratios):.1f} turns/s) "
                  f"(target ≥ 1.7x) on {os.cpu_count()} cores", flush=True)
        if 1 in running and not args.skip_held:
            running.pop(1).stop()  # the held chats have the machine to the two processes
        if not args.skip_held:
            size = running[2]
            r = size.run("held", held_chats(size.uri, args.chats, args.hold, chat_think))
            show(f"{args.chats} chats held {args.hold:.0f} s on 2 processes (think {args.chat_think} s)", r)
            print(f"held chats p99 {r['p99_ms']:.0f} ms (target ≤ 300 ms)", flush=True)
        print(f"load average at the end: {loadavg()}", flush=True)
    except Exception:
        for log in sorted(work.glob("*.log")):
            print(f"--- last lines of {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        raise
    finally:
        for size in running.values():
            size.stop()
        if dovecot is not None:
            dovecot.stop()
        client = redis.Redis.from_url(args.redis)
        delete_prefixed(client, prefix)
        client.close()


class Size:
    """One process count's gateways, started from the same state as the other's: a database of its
    own (the demo data, nothing the other size's load wrote: it would read longer lists), Redis
    keys and a mailbox of its own."""

    def __init__(self, workers: int, env: dict, pg: str, prefix: str, work: Path, dovecot, mail_rate: float):
        self.workers, self.pg, self.redis_url = workers, pg, env["HOTLINE_REDIS_URL"]
        self.label = f"{workers} process{'es' if workers > 1 else ''}"
        self.db_url = create_database(pg)
        own = {**env, "HOTLINE_DB_URL": self.db_url, "HOTLINE_REDIS_PREFIX": f"{prefix}{workers}:",
               "HOTLINE_DATA_DIR": str(work / f"data{workers}")}
        self.mail = None
        if dovecot is not None:
            user = f"scale{uuid.uuid4().hex[:6]}"
            own["HOTLINE_IMAP_URL"] = dovecot.url(user)
            self.mail = MailLoad(dovecot, user, mail_rate)
        for step in (["db", "upgrade"], ["demo-data", "--no-users"]):
            subprocess.run([str(BIN / "hotline"), *step], env=own, cwd=ROOT, check=True, capture_output=True)
        port = dialogue.free_port()
        self.uri = f"ws://127.0.0.1:{port}/ws/chat"
        self.proc = start_gateways(workers, {**own, "HOTLINE_HTTP_PORT": str(port)}, work / f"gateways{workers}.log")
        self.last_meter: Meter | None = None

    def meter(self) -> Meter:
        self.last_meter = Meter(self.proc.pid, self.db_url, self.redis_url)
        return self.last_meter

    def run(self, name: str, load, meter: Meter | None = None) -> dict:
        return asyncio.run(phase(name, load, meter or self.meter(), self.mail, self.db_url))

    def stop(self) -> None:
        if self.proc is not None:
            dialogue.stop(self.proc)
            self.proc = None
            drop_database(self.pg, self.db_url)


if __name__ == "__main__":
    main()
