"""Which category a citizen's own words belong to, from the taxonomy's keywords in the database.

The NLU decides the kind of case (complaint, report …) from the intent; the category comes from
the words of the description matched against each second-level category's keywords and name, so
a city can tune categories by editing keywords, without retraining.
"""
from __future__ import annotations

from dataclasses import dataclass

from cases.knowledge import KnowledgeRepository

from .textmatch import BM25

INTENT_KINDS = {"complain": "complaint", "report": "report", "suggest": "suggestion", "seek_help": "help",
                "praise": "praise", "mayor_mailbox": "mayor_mailbox", "ask_policy": "consultation",
                "leave_consultation": "consultation"}


@dataclass
class CategoryGuess:
    code: str
    name: str
    score: float


class CategoryClassifier:
    def __init__(self, repository: KnowledgeRepository):
        self.repository = repository
        self._categories: list[tuple[str, str, list[str]]] | None = None
        self._index: BM25 | None = None

    async def _load(self):
        if self._categories is None:
            rows = await self.repository.leaf_categories()
            self._categories = [(c.code, f"{c.parent.name}/{c.name}" if c.parent else c.name,
                                 [k for k in (c.keywords or []) if k] + [c.name]) for c in rows]
            self._index = BM25([" ".join(keywords) for _, _, keywords in self._categories])
        return self._categories

    def invalidate(self) -> None:
        self._categories = None

    async def guess(self, text: str, min_score: float = 1.5) -> CategoryGuess | None:
        """Exact keyword hits (longer ones weigh more: "广场舞" over "吵") plus the overlap of
        character pairs, which catches "拖欠我三个月工资" for the keyword "拖欠工资"."""
        categories = await self._load()
        fuzzy = self._index.scores(text)
        best = None
        for (code, name, keywords), overlap in zip(categories, fuzzy):
            score = sum(len(k) for k in keywords if k in text) + overlap
            if score >= min_score and (best is None or score > best.score):
                best = CategoryGuess(code, name, score)
        return best
