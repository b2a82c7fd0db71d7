"""PostgreSQL: hotline_case_grams (migration 0008) costs what it costs. Working out a case's array of
characters and pairs takes ~0.1 ms (a few thousand times a simple operator), but a SQL function is
costed by default at 100 operators, so the planner would rather work it out for every case it reads
(a seq scan, or a walk along the date index) than look the text up in the array's index. SQLite has
no such function: nothing to do there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 17:50:00
"""
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

GRAMS_COST = 2000  # cpu_operator_cost units (0.0025 each): ~0.1 ms measured on a 30-character case


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION hotline_case_grams(text) COST {GRAMS_COST}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION hotline_case_grams(text) COST 100")
