"""What the classifier learns from, as (text, top-level code, leaf code or None) examples.

- the bootstrap messages (data/teddy2020.csv.gz): real citizens' messages with their top level;
  their leaf is inferred where the taxonomy's keywords of exactly one child of that top level
  occur in them (weak labels: the second level has no human labels in this data);
- the taxonomy itself: each leaf's name and keywords, and the knowledge articles' questions;
- the hotline's own history: cases whose category a staff member set or corrected.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .decide import keyword_hit

DATA = Path(__file__).resolve().parent / "data"
BOOTSTRAP = DATA / "teddy2020.csv.gz"
REFERENCE = Path(__file__).resolve().parent.parent / "cases" / "reference"
# labels of the bootstrap data that the reference taxonomy names differently today
ALIASES = {"卫生计生": "卫生健康"}


@dataclass(frozen=True)
class Example:
    text: str
    top: str
    leaf: str | None = None


@dataclass
class Taxonomy:
    """Top-level codes by name, and each leaf's (code, top code, keywords)."""
    tops: dict[str, str]
    leaves: list[tuple[str, str, list[str]]]

    def top_of(self, leaf: str) -> str:
        return leaf.split(".", 1)[0]

    def children(self, top: str) -> list[tuple[str, str, list[str]]]:
        return [leaf for leaf in self.leaves if leaf[1] == top]


def load_taxonomy(directory: Path = REFERENCE) -> Taxonomy:
    tops, leaves = {}, []
    for top in yaml.safe_load((directory / "categories.yml").read_text(encoding="utf-8")):
        tops[top["name"]] = top["code"]
        for child in top.get("children", []):
            leaves.append((child["code"], top["code"], [child["name"], *(child.get("keywords") or [])]))
    return Taxonomy(tops, leaves)


def bootstrap_examples(taxonomy: Taxonomy, path: Path = BOOTSTRAP) -> list[Example]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    examples = []
    for row in rows:
        top = taxonomy.tops.get(ALIASES.get(row["label"], row["label"]))
        if top is None:
            raise ValueError(f"{path.name}: label {row['label']!r} is not a top-level category of the taxonomy")
        leaf = keyword_hit(row["text"], [(code, words) for code, _, words in taxonomy.children(top)])
        examples.append(Example(row["text"], top, leaf))
    return examples


def taxonomy_examples(taxonomy: Taxonomy, directory: Path = REFERENCE) -> list[Example]:
    """A leaf's name and keywords, and every phrasing of a knowledge article filed under it."""
    by_path = {}
    for top in yaml.safe_load((directory / "categories.yml").read_text(encoding="utf-8")):
        for child in top.get("children", []):
            by_path[f"{top['name']}/{child['name']}"] = child["code"]
    examples = [Example(word, top, code) for code, top, words in taxonomy.leaves for word in words]
    for article in yaml.safe_load((directory / "knowledge.yml").read_text(encoding="utf-8")):
        code = by_path.get(article.get("category", ""))
        if code:
            for text in [article["question"], *(article.get("alternates") or [])]:
                examples.append(Example(text, taxonomy.top_of(code), code))
    return examples


async def case_examples(db, taxonomy: Taxonomy) -> list[Example]:
    """Cases whose category a staff member chose or kept: registered by an agent at the desk or
    phone, or corrected before dispatch (cases.store.CaseStore.correct)."""
    from sqlalchemy import select

    from cases.models import Case, CaseEvent, Category

    staff_chose = select(CaseEvent.case_id).where(CaseEvent.user_id.is_not(None),
                                                  CaseEvent.action.in_(("register", "correct")))
    q = (select(Case.title, Case.description, Category.code).join(Category, Case.category_id == Category.id)
         .where(Case.id.in_(staff_chose)).order_by(Case.id))
    known_tops = set(taxonomy.tops.values())
    async with db.read() as s:
        rows = (await s.execute(q)).all()
    examples = []
    for title, description, code in rows:
        top = code.split(".", 1)[0]
        if top in known_tops:
            examples.append(Example(f"{title}\n{description}", top, code if "." in code else None))
    return examples


def write_csv(examples: list[Example]) -> bytes:
    """Examples as CSV bytes (what the fingerprint of the case-store examples is taken over)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for e in examples:
        writer.writerow([e.top, e.leaf or "", e.text])
    return out.getvalue().encode()


_NOT_WORDS = re.compile(r"[^\w]+|_")


def clean(text: str) -> str:
    """The text as the bootstrap data spells it: no punctuation or spaces, lower case, so that
    ordinary messages and the telegraphic training text give the same character n-grams."""
    return _NOT_WORDS.sub("", text).lower()
