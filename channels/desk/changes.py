"""The record of data maintenance: each change an admin makes is a data_changes row (who, when,
which row, what), written in the same transaction as the change itself."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from cases.models import DataChange


def record_change(session, request: web.Request, entity: str, key, action: str, data: dict | None = None) -> None:
    user = request["user"]
    session.add(DataChange(user_id=user.id, actor=f"user:{user.username}", entity=entity, key=str(key),
                           action=action, data=data or {}))


async def changes_of(session, entity: str, key, limit: int = 50) -> list[DataChange]:
    """A row's recorded changes, newest first."""
    return list((await session.execute(
        select(DataChange).where(DataChange.entity == entity, DataChange.key == str(key))
        .order_by(DataChange.at.desc(), DataChange.id.desc()).limit(limit))).scalars())
