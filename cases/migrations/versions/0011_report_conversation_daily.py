"""daily summaries of conversations and of agents' work (report_conversation_daily, report_agent_daily), the time a summary has followed a log
without ids to (report_watermarks.last_at), conversations by update time; report_daily laid out by
dimension first, with a second value for pairs (rebuilt by the next refresh)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 16:15:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

MEASURES = ('conversations', 'rated', 'satisfied', 'asked', 'taken', 'abandoned', 'handoffs', 'handoffs_taken')
CASE_MEASURES = ('cases', 'finished', 'finished_on_time', 'replied', 'replied_on_time', 'replied_late', 'rated',
                 'satisfied', 'average', 'dissatisfied', 'signed', 'signed_on_time', 'returned', 'extended',
                 'reminded', 'reopened')


def _report_daily(pairs: bool) -> None:
    """report_daily holds only what a refresh derives from the cases: recreated empty, with its
    watermark removed, so the next refresh builds it again in the new layout."""
    op.execute("DELETE FROM report_watermarks WHERE name = 'daily'")
    op.drop_table('report_daily')
    keys = ['dim', 'day', 'value', 'value2'] if pairs else ['day', 'dim', 'value']
    columns = {'day': sa.Column('day', sa.Date(), nullable=False),
               'dim': sa.Column('dim', sa.String(length=24 if pairs else 16), nullable=False),
               'value': sa.Column('value', sa.String(length=300 if pairs else 64), nullable=False),
               'value2': sa.Column('value2', sa.String(length=64), nullable=False)}
    op.create_table('report_daily', *[columns[k] for k in keys],
                    *[sa.Column(m, sa.Integer(), nullable=False) for m in CASE_MEASURES],
                    *([sa.Column('first_case', sa.Integer(), nullable=True)] if pairs else []),
                    sa.PrimaryKeyConstraint(*keys, name=op.f('pk_report_daily')))


def upgrade() -> None:
    op.create_table('report_conversation_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('medium', sa.String(length=8), nullable=False),
    *[sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES],
    sa.PrimaryKeyConstraint('day', 'medium', name=op.f('pk_report_conversation_daily'))
    )
    with op.batch_alter_table('report_watermarks') as batch:
        batch.add_column(sa.Column('last_at', cases.models.UTCDateTime(), nullable=True))
    op.create_index('ix_conversations_updated_at', 'conversations', ['updated_at'], unique=False)
    _report_daily(pairs=True)
    op.create_table('report_agent_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('talk', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'user_id', 'action', name=op.f('pk_report_agent_daily'))
    )


def downgrade() -> None:
    op.drop_table('report_agent_daily')
    _report_daily(pairs=False)
    op.drop_index('ix_conversations_updated_at', table_name='conversations')
    with op.batch_alter_table('report_watermarks') as batch:
        batch.drop_column('last_at')
    op.drop_table('report_conversation_daily')
