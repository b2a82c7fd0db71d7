"""Reading knowledge articles and categories for the bot's retrieval and classification."""
from __future__ import annotations

from sqlalchemy import func, select

from .db import Database
from .models import Category, KnowledgeArticle


class KnowledgeRepository:
    def __init__(self, db: Database):
        self.db = db

    async def version(self) -> tuple:
        """Changes whenever an article is added, removed, edited or (de)activated."""
        async with self.db.read() as s:
            row = (await s.execute(select(func.count(KnowledgeArticle.id), func.max(KnowledgeArticle.updated_at))
                                   .where(KnowledgeArticle.active.is_(True)))).one()
        return tuple(row)

    async def active_articles(self) -> list[KnowledgeArticle]:
        async with self.db.read() as s:
            return list((await s.execute(select(KnowledgeArticle).where(KnowledgeArticle.active.is_(True))
                                         .order_by(KnowledgeArticle.id))).scalars())

    async def leaf_categories(self) -> list[Category]:
        async with self.db.read() as s:
            return list((await s.execute(select(Category).where(Category.active.is_(True),
                                                                Category.parent_id.isnot(None))
                                         .order_by(Category.position))).scalars())
