"""Staff accounts: users with roles, their passwords, and bearer tokens for the API."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import delete, select

from .credentials import SecretHasher
from .db import Database
from .intake import InvalidInput
from .models import ApiToken, Department, User, utcnow
from .workflow import Role

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 8


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database, hasher: SecretHasher, token_ttl_s: int):
        self.db = db
        self.hasher = hasher
        self.token_ttl = dt.timedelta(seconds=token_ttl_s)

    async def create_user(self, username: str, password: str, role: str, *, display_name: str = "",
                          department_code: str | None = None, agent_no: str | None = None) -> User:
        errors = {}
        if not _USERNAME.match(username or ""):
            errors["username"] = ("username", {})
        if len(password or "") < MIN_PASSWORD:
            errors["password"] = ("too_short", {"min": MIN_PASSWORD})
        try:
            role = Role(role)
        except ValueError:
            errors["role"] = ("choice", {})
        if role == Role.DEPARTMENT and not department_code:
            errors["department"] = ("required", {})
        if errors:
            raise InvalidInput(errors)
        password_hash = await self.hasher.hash(password)
        async with self.db.write() as s:
            if (await s.execute(select(User.id).where(User.username == username))).scalar():
                raise InvalidInput({"username": ("taken", {})})
            department_id = None
            if department_code:
                department_id = (await s.execute(
                    select(Department.id).where(Department.code == department_code))).scalar()
                if department_id is None:
                    raise InvalidInput({"department": ("choice", {})})
            user = User(username=username, password_hash=password_hash, role=role.value,
                        display_name=display_name or username, department_id=department_id, agent_no=agent_no)
            s.add(user)
        return user

    async def authenticate(self, username: str, password: str) -> User | None:
        if "\x00" in username:  # no user has one, and PostgreSQL refuses the query outright
            username = ""
        async with self.db.read() as s:
            user = (await s.execute(select(User).where(User.username == username,
                                                       User.active.is_(True)))).scalar()
        ok = await self.hasher.verify(user.password_hash if user else None, password or "")
        return user if ok else None

    async def issue_token(self, user: User) -> tuple[str, dt.datetime]:
        token = secrets.token_urlsafe(32)
        expires = utcnow() + self.token_ttl
        async with self.db.write() as s:
            await s.execute(delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.expires_at < utcnow()))
            s.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), expires_at=expires))
        return token, expires

    async def user_for_token(self, token: str) -> User | None:
        async with self.db.read() as s:
            row = (await s.execute(
                select(User).join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == _token_digest(token), ApiToken.expires_at > utcnow(),
                       User.active.is_(True)))).scalar()
        return row

    async def revoke_token(self, token: str) -> None:
        async with self.db.write() as s:
            await s.execute(delete(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
