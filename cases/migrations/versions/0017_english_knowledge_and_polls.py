"""English for the bot: knowledge_articles.locale (an article answers questions in one language;
English articles sit beside the Chinese ones, edited in the same desk screen), polls.intro_en and
poll_questions.text_en (a poll's options carry their English `text_en` / `synonyms_en` in their
JSON). Existing rows are Chinese.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


# plain ADD COLUMNs with a server default for the rows already there (no batch copy on SQLite)
def upgrade() -> None:
    op.add_column('knowledge_articles', sa.Column('locale', sa.String(length=8), nullable=False, server_default='zh'))
    op.create_index('ix_knowledge_articles_locale', 'knowledge_articles', ['locale'])
    op.add_column('polls', sa.Column('intro_en', sa.Text(), nullable=False, server_default=''))
    op.add_column('poll_questions', sa.Column('text_en', sa.String(length=300), nullable=False, server_default=''))


def downgrade() -> None:
    op.drop_column('poll_questions', 'text_en')
    op.drop_column('polls', 'intro_en')
    op.drop_index('ix_knowledge_articles_locale', 'knowledge_articles')
    op.drop_column('knowledge_articles', 'locale')
