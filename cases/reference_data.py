"""Loading the sample reference data (cases/reference/*.yml) into the database.

Idempotent: rows are matched by code or slug and updated in place, so `hotline demo-data` can be
run on every start without duplicating anything or overwriting cases.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from sqlalchemy import select

from .db import Database
from .models import (CalendarDay, CannedReply, Category, DeadlineRule, Department, KnowledgeArticle, Poll,
                     PollQuestion, utcnow)

REFERENCE_DIR = Path(__file__).parent / "reference"


def read(name: str, directory: Path = REFERENCE_DIR):
    with open(directory / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


async def _upsert(s, model, key: str, value, **fields):
    row = (await s.execute(select(model).where(getattr(model, key) == value))).scalar()
    if row is None:
        row = model(**{key: value}, **fields)
        s.add(row)
    else:
        for name, v in fields.items():
            setattr(row, name, v)
    return row


async def load_reference_data(db: Database, directory: Path = REFERENCE_DIR) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.write() as s:
        by_path: dict[str, Category] = {}
        position = 0
        for top in read("categories.yml", directory):
            parent = await _upsert(s, Category, "code", top["code"], name=top["name"],
                                   name_en=top.get("name_en", ""), parent_id=None,
                                   keywords=top.get("keywords", []), position=position, active=True)
            position += 1
            await s.flush()
            by_path[top["name"]] = parent
            for child in top.get("children", []):
                node = await _upsert(s, Category, "code", child["code"], name=child["name"],
                                     name_en=child.get("name_en", ""), parent_id=parent.id,
                                     keywords=child.get("keywords", []), position=position, active=True)
                position += 1
                by_path[f"{top['name']}/{child['name']}"] = node
        await s.flush()
        counts["categories"] = len(by_path)

        departments = read("departments.yml", directory)
        for d in departments:
            codes = [by_path[p].code for p in d.get("categories", []) if p in by_path]
            await _upsert(s, Department, "code", d["code"], name=d["name"], name_en=d.get("name_en", ""),
                          phone=str(d.get("phone", "")), email=d.get("email", ""), category_codes=codes,
                          active=True)
        counts["departments"] = len(departments)

        counts["knowledge"] = 0
        for name, locale in (("knowledge.yml", "zh"), ("knowledge_en.yml", "en")):  # the bot's languages
            articles = read(name, directory) if (directory / name).exists() else []
            for a in articles:
                cat = by_path.get(a.get("category", ""))
                await _upsert(s, KnowledgeArticle, "slug", a["slug"], question=a["question"],
                              alternates=a.get("alternates", []), keywords=a.get("keywords", []),
                              answer=a["answer"].strip(), category_id=cat.id if cat else None, active=True,
                              locale=locale, updated_at=utcnow())
            counts["knowledge"] += len(articles)

        polls = read("polls.yml", directory)
        for p in polls:
            poll = (await s.execute(select(Poll).where(Poll.slug == p["slug"]))).scalar()
            if poll is None:  # a poll's questions are fixed once answers may exist
                poll = Poll(slug=p["slug"], title=p["title"], title_en=p.get("title_en", ""),
                            intro=p.get("intro", ""), intro_en=p.get("intro_en", ""), active=bool(p.get("active")))
                poll.questions = [PollQuestion(position=i, text=q["text"], text_en=q.get("text_en", ""),
                                               options=q["options"])
                                  for i, q in enumerate(p["questions"])]
                s.add(poll)
        counts["polls"] = len(polls)

        cal = read("holidays.yml", directory)
        for entry, working in [(e, False) for e in cal.get("holidays", [])] + [(e, True) for e in cal.get("workdays", [])]:
            day = entry["date"] if isinstance(entry["date"], dt.date) else dt.date.fromisoformat(str(entry["date"]))
            await _upsert(s, CalendarDay, "day", day, working=working, name=entry.get("name", ""))
        counts["calendar_days"] = len(cal.get("holidays", [])) + len(cal.get("workdays", []))

        rules = read("deadlines.yml", directory)
        await _upsert(s, DeadlineRule, "kind", "urgent", working_days=int(rules.get("urgent", 0)))
        for kind, days in rules.get("kinds", {}).items():
            await _upsert(s, DeadlineRule, "kind", kind, working_days=int(days))

        # shared canned replies: added where their shortcut is missing, never overwritten (the
        # desk's administrators edit their texts)
        canned = read("canned.yml", directory) if (directory / "canned.yml").exists() else []
        have = set((await s.execute(select(CannedReply.shortcut).where(CannedReply.user_id.is_(None)))).scalars())
        for c in canned:
            if c["shortcut"] not in have:
                s.add(CannedReply(user_id=None, shortcut=c["shortcut"], text=c["text"].strip()))
        counts["canned_replies"] = len(canned)
    return counts
