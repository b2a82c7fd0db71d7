"""Schema migrations (Alembic), run programmatically so no alembic.ini is needed."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be doubled for ConfigParser interpolation (passwords may contain it)
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def make_revision(url: str, message: str) -> None:
    """Developers: autogenerate a migration from the models' difference to the database."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
