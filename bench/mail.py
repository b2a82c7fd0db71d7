"""Benchmark: mail into cases, through a real mailbox, against the real gateway.

The gateway runs as its own process (`hotline run`, as in production) reading a mailbox on a
dovecot of its own (Debian's dovecot-imapd, started from a generated config on a free port, as in
the tests); its acknowledgements go to an SMTP server in this process (aiosmtpd), which notes when
each one arrives. Two runs on one gateway:

  burst   --mails (1,000) mails delivered into the mailbox by IMAP APPEND as fast as dovecot takes
          them: mails per second ingested into cases (first delivery to last case committed), and
          the time from each mail's delivery to its acknowledgement arriving (queueing included);
  paced   --paced mails (1,000) delivered at --rate mails/s (20, the target rate: a busy hotline's
          steady inflow): the time from delivery to acknowledgement when the gateway keeps up.

Mail texts vary (complaints, reports, consultations; UTF-8 and GBK), and each run also carries the
whole mail corpus of the tests (tests/mail_corpus/: client formats, replies, bounces, lists, spam
verdicts, no-reply and forged senders, every MIME breakage), shuffled in, each with a Message-ID of
its run; the corpus figures are printed after each run: bodies stored equal to the independent
decode, mails without an outcome, acknowledgements to senders that must get none. The gateway loads the trained
dialogue model (kind by the NLU, as in production; the first run trains it); `--no-bot` leaves it
out, and the kind comes from the mail's words. Mailbox, gateway, database and this load
generator share the machine: on a small one the figures include them all.

    python bench/mail.py [--mails 1000] [--paced 1000] [--rate 20] [--db sqlite|postgres] [--no-bot] [--no-corpus]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiohttp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mail_servers import Dovecot, SmtpSink, dovecot_available, free_port  # noqa: E402

TARGET_MAILS_PER_S = 20.0
TARGET_ACK_P50_S = 5.0
HOTLINE = "12345@city.gov.cn"  # the address the corpus writes to (and its own-mail entries from)

SUBJECTS = ["投诉：{place}{issue}", "举报{place}违法行为", "咨询：{place}附近的办事问题", "反映{place}的问题", "建议：{place}"]
PLACES = ["光明路菜市场", "幸福小区东门", "人民公园南门", "解放大道与建设路路口", "滨江花园3栋", "新华街道办事处"]
ISSUES = ["油烟太大，每天中午熏得没法开窗", "夜里施工噪音很大，影响休息", "路灯坏了一个多月没人修",
          "垃圾桶满了好几天没人清运", "小区电梯经常停运，老人上下楼很困难", "有人占道经营，人行道走不了"]


CORPUS = ROOT / "tests" / "mail_corpus"
FINAL = ("case", "event", "status", "held", "ignored")


def corpus_mails(tag: str) -> list[tuple[bytes, str, dict]]:
    """The test corpus for one run: (bytes, Message-ID of this run, manifest entry). Mails that get
    an acknowledgement write from an address of this run; mails that reuse a Message-ID keep
    sharing one (a fresh one per run), mails without one get one."""
    out, ids = [], {}
    for n, entry in enumerate(json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))):
        raw = (CORPUS / "mails" / entry["file"]).read_bytes()
        head, sep, body = raw.partition(b"\r\n\r\n")
        found = re.search(rb"^Message-ID: *(<[^>]*>)", head, re.MULTILINE | re.IGNORECASE)
        old = found.group(1).decode() if found else f"none-{n}"
        mid = ids.setdefault(old, f"<bench-{tag}-{n}@corpus.example.cn>")
        if found:
            head = head[:found.start(1)] + mid.encode() + head[found.end(1):]
        else:
            head += b"\r\nMessage-ID: " + mid.encode()
        entry = dict(entry)
        if entry["ack"]:
            local, domain = entry["sender"].split("@")
            new = f"{local}@{tag}.{domain}"
            head = re.sub(re.escape(entry["sender"]).encode(), new.encode(), head, count=1, flags=re.IGNORECASE)
            entry["sender"] = new
        out.append((head + sep + body, mid, entry))
    return out


async def corpus_figures(db_url: str, mails: list[tuple[bytes, str, dict]], sink: SmtpSink, timeout_s: float) -> dict:
    """Wait until every corpus mail of a run has its outcome; then what became of them."""
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg2://"), future=True)
    mids = sorted({mid for _, mid, _ in mails})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT m.message_id, m.sender, m.state, m.reason, c.description FROM mail_messages m "
                    "LEFT JOIN cases c ON c.id = m.case_id WHERE m.message_id IN :ids")
                    .bindparams(sa.bindparam("ids", expanding=True)), {"ids": mids}).all()
            got = {(r[0], r[1]): r for r in rows}
            if sum(1 for r in rows if r[2] in FINAL) >= len(mails) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        engine.dispose()
    await asyncio.sleep(2.0)  # acknowledgements still on their way
    recipients = {r for m in sink.messages for r in m.recipients}
    cases = [(got.get((mid, e["sender"])), e) for _, mid, e in mails if e["outcome"] == "case"]
    return {"mails": len(mails),
            "no_outcome": sum(1 for _, mid, e in mails if (got.get((mid, e["sender"])) or (0, 0, None))[2] not in FINAL),
            "outcome_as_expected": sum(1 for _, mid, e in mails
                                       if (got.get((mid, e["sender"])) or (0, 0, None))[2] == e["outcome"]),
            "cases": len(cases), "bodies_equal": sum(1 for row, e in cases if row is not None and row[4] == e["body"]),
            "acks_expected": sum(1 for _, _, e in mails if e["ack"]),
            "acks_received": sum(1 for _, _, e in mails if e["ack"] and e["sender"] in recipients),
            "acks_forbidden": sum(1 for _, _, e in mails if not e["ack"] and e["sender"] in recipients)}


def print_corpus(name: str, c: dict) -> None:
    print(f"  corpus mails in the {name} run: {c['mails']}; outcome as expected {c['outcome_as_expected']}, "
          f"without an outcome {c['no_outcome']}; bodies stored equal to the independent decode "
          f"{c['bodies_equal']}/{c['cases']}; acknowledgements {c['acks_received']}/{c['acks_expected']} "
          f"where due, {c['acks_forbidden']} to no-reply/own/spam/forged/bounce/list senders")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def citizen_mail(i: int, tag: str) -> tuple[bytes, str, str]:
    """(bytes, Message-ID, sender) of the i-th mail of a run."""
    rnd = random.Random(f"{tag}{i}")
    place, issue = rnd.choice(PLACES), rnd.choice(ISSUES)
    charset = "gbk" if i % 4 == 3 else "utf-8"
    body = (f"您好：\n\n我住在{place}附近，{issue}。已经持续一段时间了，希望有关部门尽快处理。"
            f"我的电话是139{rnd.randrange(10**8):08d}。\n\n谢谢！\n\n--\n市民 王先生（第{i}封）")
    msg = MIMEText(body, "plain", charset)
    msg["Subject"] = Header(rnd.choice(SUBJECTS).format(place=place, issue=issue[:8]), charset)
    sender = f"citizen-{tag}-{i}@example.cn"
    msg["From"] = f"{Header('王先生', charset).encode()} <{sender}>"
    msg["To"] = HOTLINE
    mid = make_msgid(domain="example.cn")
    msg["Message-ID"] = mid
    msg["Date"] = formatdate(localtime=True)
    return msg.as_bytes(), mid, sender


class Gateway:
    """`hotline run` in a child process reading the mailbox, with its settings in the environment."""

    def __init__(self, db_url: str, data_dir: Path, imap_url: str, smtp_url: str, bot: bool, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / "gateway.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        self.env.update({"HOTLINE_DATA_DIR": str(data_dir), "HOTLINE_DB_URL": db_url,
                         "HOTLINE_HTTP_PORT": str(self.port), "HOTLINE_BOT_ENABLED": "true" if bot else "false",
                         "HOTLINE_BOT_MODEL_DIR": str(ROOT / "models"), "HOTLINE_IMAP_URL": imap_url,
                         "HOTLINE_SMTP_URL": smtp_url, "HOTLINE_MAIL_FROM": HOTLINE, "HOTLINE_LOG_LEVEL": "WARNING",
                         "HOTLINE_MAIL_WORKERS": str(workers)})
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "hotline.cli", *args], env=self.env, cwd=self.data_dir, check=True,
                       stdout=subprocess.DEVNULL)

    async def start(self) -> None:
        self.cli("db", "upgrade")
        self.cli("demo-data", "--no-users")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "run", "--no-migrate"], env=self.env,
                                     cwd=self.data_dir, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900  # with --bot, the first run trains the model
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the gateway exited; see {self.log_path}:\n"
                                       + self.log_path.read_text(errors="replace")[-2000:])
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the gateway did not answer /healthz")
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the mailbox reader logs in and starts its IDLE

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            # waited for in a thread: the SMTP server on this loop must keep answering its QUIT
            code = await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, 30)
            if code is None:
                self.proc.kill()
        self._log.close()


async def case_times(db_url: str) -> list[float]:
    """created_at of every case, as POSIX seconds (from the database, written by the gateway)."""
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg2://"), future=True)
    try:
        with engine.connect() as conn:
            # the demo data has cases of its own: count the ones made from mail
            rows = conn.execute(sa.text("SELECT created_at FROM cases WHERE conversation_id LIKE :p"),
                                {"p": "email:%"}).scalars().all()
    finally:
        engine.dispose()
    out = []
    for value in rows:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        out.append(value.replace(tzinfo=dt.timezone.utc).timestamp())
    return out


async def deliver(dovecot: Dovecot, user: str, mails, rate: float | None, delivered: dict[str, float]) -> float:
    """APPEND each mail; note when the server confirmed it. Returns the wall-clock start."""
    client = await dovecot.client(user)
    started = time.time()
    t0 = time.monotonic()
    try:
        for i, (raw, mid, sender) in enumerate(mails):
            if rate:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            response = await client.append(raw, mailbox="INBOX")
            if response.result != "OK":
                raise RuntimeError(f"APPEND failed: {response}")
            delivered[sender] = time.monotonic()
    finally:
        await client.logout()
    return started


async def run_phase(name: str, dovecot, user, sink: SmtpSink, mails, rate, timeout_s: float,
                    corpus: list = ()) -> dict:
    """Deliver the citizens' mails with the corpus shuffled in; time the citizens' acknowledgements."""
    delivered: dict[str, float] = {}
    senders = {s for _, _, s in mails}
    mixed = list(mails) + [(raw, mid, e["sender"]) for raw, mid, e in corpus]
    random.Random(name).shuffle(mixed)
    first_mail = time.monotonic()
    started_wall = await deliver(dovecot, user, mixed, rate, delivered)
    delivery_s = time.monotonic() - first_mail
    await sink.wait_for(lambda: senders <= {r for m in sink.messages for r in m.recipients}, timeout=timeout_s)
    arrived = {}
    for m in sink.messages:
        for r in m.recipients:
            if r in senders and r not in arrived:
                arrived[r] = m.at
    latencies = [arrived[s] - delivered[s] for s in senders]
    return {"name": name, "mails": len(mixed), "delivery_s": delivery_s, "started_wall": started_wall,
            "ack_p50": percentile(latencies, 50), "ack_p95": percentile(latencies, 95),
            "ack_p99": percentile(latencies, 99), "ack_max": max(latencies),
            "last_ack_s": max(arrived.values()) - first_mail, "mean_latency": statistics.mean(latencies)}


async def main_async(args) -> int:
    if not dovecot_available():
        print("dovecot is not installed: run `make system-deps` (Debian's dovecot-imapd)")
        return 2
    load_before = Path("/proc/loadavg").read_text().strip()
    dovecot = Dovecot().start()
    sink = await SmtpSink().start()
    tmp = tempfile.TemporaryDirectory(prefix="hotline-bench-email-")
    data_dir = Path(tmp.name)
    admin = None
    if args.db == "sqlite":
        db_url = f"sqlite:///{data_dir / 'hotline.db'}"
    else:
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT", future=True)
        name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        db_url = str(sa.engine.make_url(args.pg).set(database=name))
    user = f"bench{uuid.uuid4().hex[:6]}"
    gateway = Gateway(db_url, data_dir, dovecot.url(user), sink.url, args.bot, args.workers)
    try:
        await gateway.start()
        burst = [citizen_mail(i, "b") for i in range(args.mails)]
        corpus_b = corpus_mails("b") if args.corpus else []
        result = await run_phase("burst", dovecot, user, sink, burst, None, args.timeout, corpus_b)
        times = sorted(await case_times(db_url))
        ingest_span = times[-1] - result["started_wall"]
        result["mails_per_s"] = len(times) / ingest_span
        result["cases"] = len(times)
        corpus_burst = await corpus_figures(db_url, corpus_b, sink, args.timeout) if corpus_b else None
        paced = corpus_paced = None
        if args.paced:
            corpus_p = corpus_mails("p") if args.corpus else []
            paced = await run_phase("paced", dovecot, user, sink, [citizen_mail(i, "p") for i in range(args.paced)],
                                    args.rate, args.timeout, corpus_p)
            corpus_paced = await corpus_figures(db_url, corpus_p, sink, args.timeout) if corpus_p else None
    finally:
        await gateway.stop()
        await sink.close()
        dovecot.stop()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        tmp.cleanup()

    load = os.getloadavg()[0]
    print(f"email benchmark: {args.db}, bot {'on (NLU kind)' if args.bot else 'off (kind from words)'}, "
          f"{args.workers} workers, {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"/proc/loadavg before: {load_before}; after: {Path('/proc/loadavg').read_text().strip()}")
    print(f"burst: {result['mails']} mails delivered by IMAP APPEND in {result['delivery_s']:.1f} s "
          f"({result['mails'] / result['delivery_s']:.0f}/s)")
    print(f"  ingested into cases: {result['mails_per_s']:.1f} mails/s (target >= {TARGET_MAILS_PER_S:.0f}; "
          f"{result['cases']} cases, the mails that became none not counted)")
    print(f"  delivery -> acknowledgement, queueing included: p50 {result['ack_p50']:.2f} s, "
          f"p95 {result['ack_p95']:.2f} s, p99 {result['ack_p99']:.2f} s, max {result['ack_max']:.2f} s")
    if corpus_burst:
        print_corpus("burst", corpus_burst)
    if paced:
        print(f"paced: {paced['mails']} mails at {args.rate:g}/s")
        print(f"  delivery -> acknowledgement: p50 {paced['ack_p50']:.2f} s (target <= {TARGET_ACK_P50_S:.0f}), "
              f"p95 {paced['ack_p95']:.2f} s, p99 {paced['ack_p99']:.2f} s, max {paced['ack_max']:.2f} s")
        if corpus_paced:
            print_corpus("paced", corpus_paced)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--paced", type=int, default=1000, help="mails of the paced run (0: none)")
    parser.add_argument("--rate", type=float, default=20.0, help="mails per second in the paced run")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg", default=os.environ.get("HOTLINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--bot", action=argparse.BooleanOptionalAction, default=True,
                        help="classify with the trained dialogue model (default), or not")
    parser.add_argument("--corpus", action=argparse.BooleanOptionalAction, default=True,
                        help="shuffle the test corpus (broken mails included) into each run (default)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--workers", type=int, default=16, help="mails processed at once (mail_workers)")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
