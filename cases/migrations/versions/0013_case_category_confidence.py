"""cases.category_confidence: how sure the category classifier was of the category it gave a case
(NULL where a person chose it or none was guessed), so the desk can show an agent the most likely
categories instead of a silent guess

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


# a plain ADD COLUMN on both databases: a batch (copy-and-rename) on SQLite would break the search
# view and triggers that name the cases table (0008)
def upgrade() -> None:
    op.add_column('cases', sa.Column('category_confidence', sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column('cases', 'category_confidence')
