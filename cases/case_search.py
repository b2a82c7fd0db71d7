"""Text search over cases (title, description and location, as one text) through a trigram index.

The index (migration 0008):
- SQLite: an FTS5 table with the trigram tokenizer (`cases_fts`) over the view `cases_search_text`,
  kept in sync by triggers on `cases`, and its vocabulary (`cases_fts_vocab`).
- PostgreSQL: a pg_trgm GIN index on `hotline_case_text(title, description, location)`, and a GIN
  index on `hotline_case_grams(…)` of it: its characters and pairs of neighbouring characters.

A trigram index answers a query of 3 characters or more. Chinese words are mostly 1–2 characters,
so short queries matter:
- SQLite: every occurrence of a 1–2 character query begins some trigram of the text (the indexed
  text ends with two newlines, so even its last character begins one). The vocabulary lists the
  index's trigrams in order, so those beginning with the query are a range of it; the cases holding
  any of them are exactly the cases containing the query. More than MAX_PREFIX_TERMS such trigrams
  (a very common single character) and the query falls back to a scan, which then finds a page
  of matches after a few rows.
- PostgreSQL: pg_trgm cannot look up part of a trigram, so 1–2 character queries look up the
  array of characters and pairs instead (its function costs too much to have it for every text, so
  it serves the short queries alone).
Matching is substring matching ("电梯" finds "电梯间"), case-insensitive on both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import Text, column, false, func, literal, literal_column, or_, select, table
from sqlalchemy.dialects.postgresql import ARRAY

from .models import Case

MIN_INDEXED = 3          # characters a trigram index needs
MAX_PREFIX_TERMS = 2000  # trigrams a short query may expand to (SQLite) before it scans instead

# names the migration creates outside the models (Alembic's comparison leaves them alone)
SEARCH_OBJECTS = frozenset({"cases_fts", "cases_fts_data", "cases_fts_idx", "cases_fts_docsize",
                            "cases_fts_config", "cases_fts_content", "cases_fts_vocab", "cases_search_text",
                            "ix_cases_text_trgm", "ix_cases_text_grams"})

_fts = table("cases_fts", column("rowid"))
_vocab = table("cases_fts_vocab", column("term"))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate/compare: the search index is not described by the models."""
    return name not in SEARCH_OBJECTS


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cased(text: str) -> bool:
    """Whether case can matter (ILIKE costs PostgreSQL about twice LIKE, and Chinese has no case)."""
    return text.lower() != text.upper()


def _contains(expr, text: str):
    pattern = _like_pattern(text)
    return expr.ilike(pattern, escape="\\") if _cased(text) else expr.like(pattern, escape="\\")


def scan_condition(text: str):
    """The query as a substring of any of the three columns, without an index."""
    return or_(*(_contains(c, text) for c in (Case.title, Case.description, Case.location)))


@dataclass(frozen=True)
class TextMatch:
    """The condition "contains the text" as a function of the case id expression; whether it reads
    every case (no index serves it); the same test made on each row read (for a walk along another
    index that finds a page after a few rows: cheaper than gathering every indexed match first);
    and on SQLite the matching ids straight from the text index (a count needs no case rows)."""
    condition: Callable
    scan: Any
    scans: bool = False
    ids: Any = None
    # PostgreSQL, 1-2 characters: the condition with every match gathered once through the pairs
    # index (a MATERIALIZED CTE: a fence the planner does not see through), never tested case by
    # case. For a look-up with no page to stop at (the similar cases: the open ones of the last
    # weeks, which a walk would read all of, 0.1 ms each); a page of a common pair (the desk's
    # search) is found sooner by the walk, which the planner then chooses
    gathered: Callable | None = None


async def text_condition(session, sqlite: bool, text: str) -> TextMatch | None:
    """The text condition, served by the trigram index where it can be; None for an empty text."""
    text = text.strip()
    if not text:
        return None
    scan = scan_condition(text)
    if not sqlite:
        whole = func.hotline_case_text(Case.title, Case.description, Case.location)
        if len(text) >= MIN_INDEXED:
            indexed = _contains(whole, text)
            return TextMatch(lambda case_id: indexed, indexed)
        # An array of characters and pairs holds exactly the short texts. Working it out costs ~0.1
        # ms a case (migration 0018 tells the planner so), but a bitmap scan is charged as if it
        # worked it out for every match, so a walk along another index that works it out for each
        # row it reads can still look cheaper where it is not (see TextMatch.gathered).
        grams = func.hotline_case_grams(whole).op("@>")(literal([text.lower()], ARRAY(Text)))
        found = select(Case.id).where(grams).cte().prefix_with("MATERIALIZED")
        return TextMatch(lambda case_id: grams, grams, gathered=lambda case_id: case_id.in_(select(found.c.id)))
    if len(text) >= MIN_INDEXED:
        query = _fts_phrase(text)
    else:
        low = text.lower()  # the tokenizer folds case; its vocabulary holds folded trigrams
        terms = list((await session.execute(
            select(_vocab.c.term).where(_vocab.c.term >= low, _vocab.c.term < low + "\U0010ffff")
            .limit(MAX_PREFIX_TERMS + 1))).scalars())
        if not terms:
            return TextMatch(lambda case_id: false(), false())
        if len(terms) > MAX_PREFIX_TERMS:
            return TextMatch(lambda case_id: scan, scan, scans=True)
        query = " OR ".join(_fts_phrase(t) for t in terms)
    ids = select(_fts.c.rowid).where(literal_column("cases_fts").op("MATCH")(query))
    return TextMatch(lambda case_id: case_id.in_(ids), scan, ids=ids)
