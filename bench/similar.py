"""Benchmark: the similar-case finder (cases/similar.py) on generated duplicates, SQLite and PostgreSQL.

What is measured, on a migrated database holding --cases cases:
  * the store: real citizens' messages (../shared/data/teddy2020, TipDM Cup 2020: a city's online
    message board, place names masked by the publisher) as open cases of the last 60 days, each with
    its own phone and the place its words name; --bases of them are the "originals"; the rest of
    the --cases are generated background over a year (every state), as in bench/desk.py;
  * the probes, new intakes made from the originals as real duplicates look:
      dup     the same citizen (phone, or email for a quarter) about the same matter in other words: a
              part of the message (35-65 %), synonyms, "我之前反映过…", or a terse retelling keeping three
              short phrases of it ("上次说的…，现在…"), the place written otherwise
              (十二号 for 12号, 附近/门口, with or without the district) or, for a quarter, not given;
      other   another citizen about the same matter at the same place (the same rewriting);
      matter  the same citizen about another matter somewhere else;
      place   another citizen at the same place about something of another category.
  * figures:
      likely duplicate (same citizen, same matter: told to a citizen who proved the case is theirs,
        otherwise flagged for an agent): precision and recall
        over every probe (dup is the positive kind);
      the 相似工单 panel (up to 8 listed): recall of the original for dup/other/matter (the spec lists
        the same citizen's open cases and the same place's), precision of what it lists (listed
        cases that are the probe's original, over all listed); for `place` every listed case is a
        false positive unless it is the same citizen;
      time per look-up (p50/p99) on --cases cases.

    python bench/similar.py [--db sqlite|postgres|both] [--cases 100000] [--bases 400]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import gzip
import os
import random
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import sqlalchemy as sa  # noqa: E402

from cases.credentials import luhn_digit  # noqa: E402
from cases.db import Database  # noqa: E402
from cases.migrate import upgrade  # noqa: E402
from cases.reference_data import load_reference_data  # noqa: E402
from cases.similar import Probe, SimilarCases  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "teddy2020" / "train.csv.gz"
SHOWN = 8
OPEN = ["registered", "dispatched", "accepted", "in_progress", "returned"]
ALL = OPEN + ["replied", "followed_up", "closed", "answered"]
SYNONYMS = [("噪音", "噪声"), ("施工", "作业"), ("严重", "厉害"), ("希望", "盼望"), ("解决", "处理"),
            ("现在", "目前"), ("没有", "没"), ("居民", "住户"), ("影响", "干扰"), ("反映", "投诉"),
            ("每天", "天天"), ("晚上", "夜里"), ("问题", "情况"), ("部门", "单位"), ("马路", "道路")]
OPENERS = ["我之前反映过，", "再说一次，", "", "你好，", "还是上次那个事，"]
CLOSERS = ["，到现在还没人管。", "，请尽快处理。", "，希望相关部门重视。", "。", "，麻烦再催一下。"]
CN_DIGITS = "零一二三四五六七八九"
FILLER_WORDS = ["天气", "公交", "路灯", "垃圾", "油烟", "电梯", "停车", "漏水", "供暖", "占道"]
FILLER_PLACES = ["光明路", "幸福小区", "人民公园", "解放大道", "滨江花园", "建设路", "长江路", "东湖社区"]


def load_messages() -> list[tuple[str, str]]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return [(r["label"], r["text"]) for r in csv.DictReader(f)]


# a place as the board's publisher masked it (A3区魏家坡小区, A5区嘉华路): what a citizen gives as the place
MASKED_PLACE = re.compile(r"[A-Z]\d*[市区县](?:[A-Z]\d*[区县])?[\u4e00-\u9fff]{2,6}?(?:大道|大街|路|街|巷|小区|花园|"
                          r"家园|公寓|大厦|广场|公园|市场|学校|中学|小学|幼儿园|医院|社区|村|苑)(?:\d+号)?")


def place_of(text: str) -> str:
    m = MASKED_PLACE.search(text)
    return m.group(0) if m else ""


def chinese(n: int) -> str:
    """12 -> 十二, 105 -> 一百零五 (address numbers as people write them out)."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return CN_DIGITS[n // 10] + "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    return "".join(CN_DIGITS[int(d)] for d in str(n))


def rewrite_place(place: str, rnd: random.Random) -> str:
    out = re.sub(r"(\d+)(?=号|栋|楼|单元)", lambda m: chinese(int(m.group(1))) if rnd.random() < 0.6 else m.group(1),
                 place)
    if rnd.random() < 0.4:
        out = re.sub(r"^A\d*区", "", out) or out  # the district left out
    elif rnd.random() < 0.3 and not out.startswith("A"):
        out = "A市" + out
    return out + rnd.choice(["附近", "门口", "旁边", "一带", "", ""])


TERSE = ["{a}的事还没解决，{b}，{c}。", "又来反映：{a}，{b}，到现在{c}。", "上次说的{a}，现在{b}，{c}，请尽快处理。"]


def rewrite_text(text: str, rnd: random.Random) -> str:
    """Half the time a part of the message reworded, half the time a terse retelling that keeps a
    few of its phrases (how a citizen says it again in a chat or on the phone)."""
    if rnd.random() < 0.5:
        picks = []
        for _ in range(3):
            size = rnd.choice((2, 3, 4))
            start = rnd.randrange(0, max(1, len(text) - size))
            picks.append(text[start:start + size])
        return rnd.choice(TERSE).format(a=picks[0], b=picks[1], c=picks[2])
    n = len(text)
    size = max(12, int(n * rnd.uniform(0.35, 0.65)))
    start = rnd.randrange(0, max(1, n - size))
    part = text[start:start + size]
    for a, b in SYNONYMS:
        if a in part and rnd.random() < 0.5:
            part = part.replace(a, b)
    return rnd.choice(OPENERS) + part + rnd.choice(CLOSERS)


def phone(rnd: random.Random, used: set) -> str:
    while True:
        p = f"13{rnd.randrange(10**9):09d}"
        if p not in used:
            used.add(p)
            return p


def dataset(n_bases: int, seed: int):
    """(originals, background messages, probes): originals are dicts of case columns; each probe is
    (kind, Probe fields, index of its original)."""
    rnd = random.Random(seed)
    messages = load_messages()
    rnd.shuffle(messages)
    seen_places, seen_heads = set(), set()
    bases, spare, background = [], [], []
    for label, text in messages:
        place = place_of(text)
        head = text[:12]
        if len(text) >= 30 and len(place) >= 3 and place not in seen_places and head not in seen_heads:
            seen_places.add(place)
            seen_heads.add(head)
            (bases if len(bases) < n_bases else spare if len(spare) < n_bases else background).append(
                (label, text, place))
        elif head not in seen_heads and place not in seen_places:
            background.append((label, text, place))  # never the same matter as a base (same start or place)
    used: set = set()
    originals = []
    for i, (label, text, place) in enumerate(bases):
        originals.append({"label": label, "description": text, "location": place, "title": text[:20],
                          "contact_phone": phone(rnd, used),
                          "contact_email": f"citizen{i}@example.cn" if i % 2 == 0 else ""})
    probes = []
    for i, o in enumerate(originals):
        other = spare[i]
        by_email = o["contact_email"] and rnd.random() < 0.5
        # a quarter give no place at all ("还是上次那个事"): only their words can tell
        probes.append(("dup", dict(phone="" if by_email else o["contact_phone"],
                                   email=o["contact_email"] if by_email else "",
                                   location="" if rnd.random() < 0.25 else rewrite_place(o["location"], rnd),
                                   text=rewrite_text(o["description"], rnd),
                                   label=o["label"]), i))
        probes.append(("other", dict(phone=phone(rnd, used), location=rewrite_place(o["location"], rnd),
                                     text=rewrite_text(o["description"], rnd), label=o["label"]), i))
        probes.append(("matter", dict(phone=o["contact_phone"], location=other[2], text=rewrite_text(other[1], rnd),
                                      label=other[0]), i))
        unlike = next(s for s in spare[i:] + spare[:i] if s[0] != o["label"])
        probes.append(("place", dict(phone=phone(rnd, used), location=rewrite_place(o["location"], rnd),
                                     text=rewrite_text(unlike[1], rnd), label=unlike[0]), i))
    return originals, background, probes


def load(db_url: str, originals, background, total: int, seed: int) -> tuple[list[int], dict[str, int]]:
    """Everything written straight into the database; the originals' case ids and label -> category id."""
    rnd = random.Random(seed + 1)
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg2://"), future=True)
    meta = sa.MetaData()
    meta.reflect(engine, only=["cases", "categories"])
    cases, cats = meta.tables["cases"], meta.tables["categories"]
    now = dt.datetime.utcnow()
    with engine.begin() as conn:
        tops = {r.name: r.id for r in conn.execute(sa.select(cats.c.id, cats.c.name).where(cats.c.parent_id.is_(None)))}
        children = [r.id for r in conn.execute(sa.select(cats.c.id).where(cats.c.parent_id.isnot(None)))]
    fallback = sorted(tops.values())
    labels = sorted({o["label"] for o in originals} | {b[0] for b in background})
    category = {lab: tops.get(lab, fallback[i % len(fallback)]) for i, lab in enumerate(labels)}
    serial = [0]

    def row(created, status, **cols):
        serial[0] += 1
        body = created.strftime("%y%m%d") + f"{serial[0]:06d}"
        base = {"number": body + luhn_digit(body), "password_hash": "x", "kind": "complaint", "category_id": None,
                "title": "", "description": "", "location": "", "happened": "", "contact_name": "",
                "contact_phone": "", "contact_email": "", "anonymous": False, "wants_reply": True,
                "channel": rnd.choice(["web", "webchat", "phone_agent", "email"]), "urgency": "normal",
                "status": status, "department_id": None, "deadline": created + dt.timedelta(days=15), "reply": "",
                "locale": "zh", "created_at": created, "updated_at": created}
        base.update(cols)
        return base

    used: set = set()
    batch = []

    def flush(conn):
        if batch:
            conn.execute(cases.insert(), batch)
            batch.clear()

    with engine.begin() as conn:
        filler = max(0, total - len(originals) - len(background))
        for i in range(filler):  # a year of other cases, every state
            created = now - dt.timedelta(minutes=rnd.randrange(365 * 24 * 60))
            place = rnd.choice(FILLER_PLACES)
            batch.append(row(created, rnd.choice(ALL), category_id=rnd.choice(children),
                             title=f"{place}{rnd.choice(FILLER_WORDS)}问题", location=place,
                             description=f"{place}{rnd.choice(FILLER_WORDS)}问题很严重（第{i}号）",
                             contact_phone=phone(rnd, used)))
            if len(batch) == 5000:
                flush(conn)
        for label, text, place in background[:max(0, total - len(originals))]:
            created = now - dt.timedelta(minutes=rnd.randrange(60 * 24 * 60))
            batch.append(row(created, rnd.choice(OPEN), category_id=category[label], title=text[:20],
                             description=text, location=place, contact_phone=phone(rnd, used)))
            if len(batch) == 5000:
                flush(conn)
        flush(conn)
        ids = []
        for o in originals:  # registered within the last three weeks, still open
            created = now - dt.timedelta(minutes=rnd.randrange(21 * 24 * 60))
            r = row(created, rnd.choice(OPEN), category_id=category[o["label"]],
                    **{k: o[k] for k in ("title", "description", "location", "contact_phone", "contact_email")})
            ids.append(conn.execute(cases.insert().values(**r)).inserted_primary_key[0])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE cases")
    engine.dispose()
    return ids, category


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


async def measure(db_url: str, ids: list[int], probes, category: dict[str, int]) -> dict:
    db = Database(db_url)
    finder = SimilarCases(db, 30)
    told = {"tp": 0, "fp": 0, "fn": 0}
    panel = {"found": 0, "wanted": 0, "listed": 0, "right": 0}
    per_kind: dict[str, list[int]] = {}
    times = []
    try:
        for kind, fields, i in probes:
            probe = Probe(phone=fields.get("phone", ""), email=fields.get("email", ""), location=fields["location"],
                          text=fields["text"], category_id=category[fields["label"]])
            t0 = time.perf_counter()
            matches = await finder.find(probe, limit=SHOWN)
            times.append(time.perf_counter() - t0)
            original = ids[i]
            dup = next((m for m in matches if m.likely_duplicate), None)
            if kind == "dup":
                told["tp" if dup is not None and dup.case.id == original else "fn"] += 1
                if dup is not None and dup.case.id != original:
                    told["fp"] += 1
            elif dup is not None:
                told["fp"] += 1
            listed = [m.case.id for m in matches]
            relevant = {original} if kind in ("dup", "other", "matter") else set()
            panel["wanted"] += len(relevant)
            panel["found"] += len(relevant & set(listed))
            panel["listed"] += len(listed)
            panel["right"] += sum(1 for c in listed if c in relevant)
            stats = per_kind.setdefault(kind, [0, 0, 0])
            stats[0] += 1
            stats[1] += original in listed
            stats[2] += dup is not None and dup.case.id == original
    finally:
        await db.dispose()
    return {"told": told, "panel": panel, "per_kind": per_kind, "times": times}


async def run(kind: str, args, data) -> dict:
    originals, background, probes = data
    with tempfile.TemporaryDirectory(prefix=f"hotline-similar-{kind}-") as tmp:
        admin = None
        if kind == "sqlite":
            db_url = f"sqlite:///{Path(tmp) / 'hotline.db'}"
        else:
            admin = sa.create_engine(args.pg.replace("postgresql://", "postgresql+psycopg2://"),
                                     isolation_level="AUTOCOMMIT", future=True)
            name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            db_url = str(sa.engine.make_url(args.pg).set(database=name))
        try:
            upgrade(db_url)
            db = Database(db_url)
            await load_reference_data(db)
            await db.dispose()
            t0 = time.perf_counter()
            ids, category = load(db_url, originals, background, args.cases, args.seed)
            print(f"{kind}: {args.cases:,} cases loaded in {time.perf_counter() - t0:.0f} s")
            return await measure(db_url, ids, [(k, dict(f), i) for k, f, i in probes], category)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "—"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--bases", type=int, default=400, help="originals, each with four probes (default 400)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--pg", default=os.environ.get("HOTLINE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = p.parse_args(argv)
    data = dataset(args.bases, args.seed)
    print(f"{len(data[0])} originals, {len(data[2])} probes (dup/other/matter/place), {args.cases:,} cases; "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        try:
            r = asyncio.run(run(kind, args, data))
        except sa.exc.OperationalError as exc:
            print(f"{kind}: skipped, PostgreSQL not reachable ({str(exc.orig).strip()})")
            continue
        t, pn = r["told"], r["panel"]
        print(f"{kind:9s} likely duplicate (told to a proven citizen, else flagged): precision {ratio(t['tp'], t['tp'] + t['fp'])}  "
              f"recall {ratio(t['tp'], t['tp'] + t['fn'])}  (tp {t['tp']}, fp {t['fp']}, fn {t['fn']})")
        print(f"{'':9s} 相似工单 panel (up to {SHOWN}): recall {ratio(pn['found'], pn['wanted'])}  "
              f"precision {ratio(pn['right'], pn['listed'])}  ({pn['listed']} listed)")
        for k, (n, listed, told) in sorted(r["per_kind"].items()):
            print(f"{'':9s}   {k:7s} {n:4d} probes: original listed {ratio(listed, n)}, told as duplicate {ratio(told, n)}")
        print(f"{'':9s} look-up time p50 {percentile(r['times'], 50) * 1000:.1f} ms  "
              f"p99 {percentile(r['times'], 99) * 1000:.1f} ms  ({len(r['times'])} look-ups)")
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
