"""Answers to policy questions, chosen from the knowledge articles in the case store.

The index is rebuilt whenever the articles change in the database (their count or latest
update time), so editing an article changes the bot's answers at once, without retraining.
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
        self._articles: list = []
        self._index: BM25 | None = None

    async def _refresh(self) -> None:
        version = await self.repository.version()
        if version != self._version or self._index is None:
            self._articles = await self.repository.active_articles()
            # the question and its alternates count twice: they are how citizens ask
            docs = [" ".join([a.question, a.question, *a.alternates, *a.alternates, *a.keywords, a.answer[:60]])
                    for a in self._articles]
            self._index = BM25(docs)
            self._version = version

    async def search(self, question: str, limit: int = 3) -> list[Answer]:
        await self._refresh()
        if not self._articles:
            return []
        scores = self._index.scores(question)
        top = self._index.query_weight(question)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:limit]
        return [Answer(self._articles[i].slug, self._articles[i].question, self._articles[i].answer,
                       min(1.0, scores[i] / top)) for i in ranked if scores[i] > 0]

    async def best(self, question: str) -> Answer | None:
        found = await self.search(question, 1)
        return found[0] if found and found[0].confidence >= self.min_confidence else None
