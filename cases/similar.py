"""The similar-case finder: open cases that may be the same matter as a new or an open case.

Similar = the same citizen (phone or email) or the same place, registered within the window
(`similar_window_days`), still open; ranked by how much they share (citizen, place, category,
words: cases/place_text.py says how places and words are compared). A *likely duplicate* is the
same citizen about the same place or in much the same words: the one a citizen is told about on
intake ("您反映过的工单 … 还在办理中") instead of getting a second case.

Every candidate comes from an index, never from a scan of the cases: the phone index, the email
index (migration 0016), and the case text index (cases/case_search.py, migration 0008) for the
beginnings of the place names, each bounded; only those few dozen cases are scored in Python.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select

from .case_search import text_condition
from .db import Database
from .intake import CaseInput, normalize_phone
from .models import Case, Category, utcnow
from .place_text import (bigrams, normalize_text, place_similarity, places_in, search_terms,
                         text_similarity)
from .workflow import OPEN_STATUSES

PER_QUERY = 60        # candidates each index lookup may give (newest first)
SAME_PLACE = 0.75     # place similarity from which two places are taken as one
SAME_WORDS = 0.3      # description overlap from which a citizen's two texts are taken as one matter (bench/similar.py)
RELATED_WORDS = 0.2   # …and from which two citizens at one place are taken as one matter
# what a candidate is scored by (a Core row: whole cases are loaded only for the best few)
_COMPARED = (Case.id, Case.contact_phone, Case.contact_email, Case.location, Case.title, Case.description,
             Case.category_id, Case.created_at)
# the ranking: how much each shared thing counts (they add up to 1)
WEIGHTS = {"citizen": 0.3, "place": 0.35, "category": 0.15, "words": 0.2}


@dataclass
class Probe:
    """What a case is compared by: the citizen's contacts, place, words and category."""
    phone: str = ""
    email: str = ""
    location: str = ""
    text: str = ""
    category_id: int | None = None
    exclude_id: int | None = None
    category_code: str | None = None  # where the id is not known yet (intake)

    @classmethod
    def of_case(cls, case: Case) -> "Probe":
        return cls(case.contact_phone, case.contact_email, case.location, f"{case.title}\n{case.description}",
                   case.category_id, case.id)

    @classmethod
    def of_input(cls, inp: CaseInput) -> "Probe":
        return cls(inp.contact_phone, inp.contact_email, inp.location, f"{inp.title}\n{inp.description}",
                   category_code=inp.category_code)


@dataclass
class Match:
    case: Case
    score: float
    same_citizen: bool
    place: float
    category: float
    words: float
    reasons: list[str] = field(default_factory=list)

    @property
    def same_place(self) -> bool:
        return self.place >= SAME_PLACE

    @property
    def likely_duplicate(self) -> bool:
        """The same citizen about the same matter: what intake tells the citizen about."""
        return self.same_citizen and (self.same_place or self.words >= SAME_WORDS)


def _category_closeness(a: Category | None, b_id: int | None, parents: dict[int, int | None]) -> float:
    if a is None or b_id is None:
        return 0.0
    if a.id == b_id:
        return 1.0
    top_a = a.parent_id or a.id
    top_b = parents.get(b_id) or b_id
    return 0.5 if top_a == top_b else 0.0


class SimilarCases:
    def __init__(self, db: Database, window_days: int = 30):
        if window_days < 1:
            raise ValueError("setting 'similar_window_days': at least 1 day")
        self.db = db
        self.window = dt.timedelta(days=window_days)

    @staticmethod
    def candidates(probe: Probe, since: dt.datetime, department_id: int | None, condition):
        """The newest PER_QUERY open cases since `since` that meet `condition`."""
        q = select(Case.id).where(Case.status.in_([st.value for st in OPEN_STATUSES]), Case.created_at >= since,
                                  condition)
        if probe.exclude_id is not None:
            q = q.where(Case.id != probe.exclude_id)
        if department_id is not None:
            q = q.where(Case.department_id == department_id)
        return q.order_by(Case.created_at.desc()).limit(PER_QUERY)

    async def find(self, probe: Probe, *, limit: int = 10, department_id: int | None = None,
                   now: dt.datetime | None = None) -> list[Match]:
        """Similar open cases, best first. `department_id`: only that department's cases (what a
        department handler may see)."""
        since = (now or utcnow()) - self.window
        phone = normalize_phone(probe.phone)
        email = (probe.email or "").strip().lower()
        places = places_in(probe.location, probe.text)
        async with self.db.read() as s:
            def candidates(condition):
                return self.candidates(probe, since, department_id, condition)

            ids: set[int] = set()
            if phone:
                ids.update((await s.execute(candidates(Case.contact_phone == phone))).scalars())
            if email:
                ids.update((await s.execute(candidates(func.lower(Case.contact_email) == email))).scalars())
            for term in search_terms(places):
                match = await text_condition(s, self.db.sqlite, term)
                if match is not None and not match.scans:
                    # no page to stop at: a 1-2 character place's matches gathered, not tested case by case
                    ids.update((await s.execute(candidates((match.gathered or match.condition)(Case.id)))).scalars())
            if not ids:
                return []
            # scored on the few columns compared, not on whole cases: at a busy place the candidates
            # are dozens of open cases, and only the best `limit` are shown
            rows = (await s.execute(select(*_COMPARED).where(Case.id.in_(ids)))).all()
            category = await s.get(Category, probe.category_id) if probe.category_id else None
            if category is None and probe.category_code:
                category = (await s.execute(select(Category).where(Category.code == probe.category_code))).scalar()
            parents = dict((await s.execute(select(Category.id, Category.parent_id).where(
                Category.id.in_({r.category_id for r in rows if r.category_id})))).all())
            words = bigrams(normalize_text(probe.text))
            scored = [m for m in (self._score(row, phone, email, places, words, category, parents) for row in rows)
                      if m is not None]
            scored.sort(key=lambda m: (-m.score, -m.case.created_at.timestamp()))
            best = scored[:limit]
            if not best:
                return []
            from .store import select_cases  # (store imports this module) category and parent loaded too:
            # a view of the case made after the session (the portal's notice) reads them
            cases = {c.id: c for c in (await s.execute(
                select_cases().where(Case.id.in_([m.case.id for m in best])))).scalars().unique()}
        # (a case removed between the two reads is left out)
        return [replace(m, case=cases[m.case.id]) for m in best if m.case.id in cases]

    @staticmethod
    def _score(case, phone: str, email: str, places: list[str], words: frozenset[str],
               category: Category | None, parents: dict) -> Match | None:
        """`case`: a row of the compared columns; `find` puts the whole case in the match after."""
        same_citizen = bool(phone and case.contact_phone == phone) or \
            bool(email and (case.contact_email or "").lower() == email)
        theirs = places_in(case.location, case.description)
        place = place_similarity(places, theirs)
        closeness = _category_closeness(category, case.category_id, parents)
        # the words beside the place: naming the same street is the place's evidence, not the matter's
        named = frozenset().union(*(bigrams(p) for p in places + theirs))
        overlap = text_similarity(words - named, bigrams(normalize_text(f"{case.title}\n{case.description}")) - named)
        same_place = place >= SAME_PLACE
        if not same_citizen and not (same_place and (closeness > 0 or overlap >= RELATED_WORDS)):
            return None  # another citizen at a place merely alike, or about something else there
        score = (WEIGHTS["citizen"] * same_citizen + WEIGHTS["place"] * place
                 + WEIGHTS["category"] * closeness + WEIGHTS["words"] * min(1.0, overlap / SAME_WORDS))
        reasons = [r for r, on in (("citizen", same_citizen), ("place", same_place),
                                   ("category", closeness == 1.0), ("words", overlap >= RELATED_WORDS)) if on]
        return Match(case, round(score, 3), same_citizen, round(place, 3), closeness, round(overlap, 3), reasons)

    async def likely_duplicates(self, probe: Probe, *, now: dt.datetime | None = None) -> list[Match]:
        """The open cases of this citizen (by the phone or email given) about the same matter, best
        first. Whether the one who gave them is that citizen is for the channel to know
        (bot/actions/existing_case.py, channels/portal, channels/email/ingest.py)."""
        if not probe.phone and not probe.email:
            return []
        return [m for m in await self.find(probe, limit=5, now=now) if m.likely_duplicate]

    async def likely_duplicate(self, probe: Probe, *, now: dt.datetime | None = None) -> Match | None:
        """The open case this citizen most likely already filed about the same matter, or None."""
        return next(iter(await self.likely_duplicates(probe, now=now)), None)
