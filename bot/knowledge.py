"""Answers to policy questions, chosen from the knowledge articles in the case store.

The index is rebuilt whenever the articles change in the database (their count or latest
update time), so editing an article changes the bot's answers at once, without retraining. Each
language has its own articles and index: a citizen is answered from the articles in theirs.
"""
from __future__ import annotations

from dataclasses import dataclass

from cases.knowledge import KnowledgeRepository

from .textmatch import BM25


@dataclass
class Answer:
    slug: str
    question: str
    answer: str
    confidence: float


class KnowledgeBase:
    def __init__(self, repository: KnowledgeRepository, min_confidence: float = 0.45):
        self.repository = repository
        self.min_confidence = min_confidence
        self._version = None
        self._by_locale: dict[str, tuple[list, BM25]] = {}  # locale -> its articles and their index

    async def _refresh(self) -> None:
        version = await self.repository.version()
        if version != self._version:
            by_locale: dict[str, list] = {}
            for a in await self.repository.active_articles():
                by_locale.setdefault(a.locale or "zh", []).append(a)
            # the question and its alternates count twice: they are how citizens ask
            self._by_locale = {locale: (articles, BM25([" ".join([a.question, a.question, *a.alternates, *a.alternates,
                                                                   *a.keywords, a.answer[:60]]) for a in articles]))
                               for locale, articles in by_locale.items()}
            self._version = version

    async def search(self, question: str, limit: int = 3, locale: str = "zh") -> list[Answer]:
        await self._refresh()
        articles, index = self._by_locale.get(locale, ([], None))
        if not articles:
            return []
        scores = index.scores(question)
        top = index.query_weight(question)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:limit]
        return [Answer(articles[i].slug, articles[i].question, articles[i].answer,
                       min(1.0, scores[i] / top)) for i in ranked if scores[i] > 0]

    async def best(self, question: str, locale: str = "zh") -> Answer | None:
        found = await self.search(question, 1, locale)
        return found[0] if found and found[0].confidence >= self.min_confidence else None
