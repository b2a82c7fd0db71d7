"""daily report summary (report_daily) and the basis a report summary was computed under

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 15:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

MEASURES = ('cases', 'finished', 'finished_on_time', 'replied', 'replied_on_time', 'replied_late', 'rated',
            'satisfied', 'average', 'dissatisfied', 'signed', 'signed_on_time', 'returned', 'extended',
            'reminded', 'reopened')


def upgrade() -> None:
    op.create_table('report_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dim', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    *[sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES],
    sa.PrimaryKeyConstraint('day', 'dim', 'value', name=op.f('pk_report_daily'))
    )
    with op.batch_alter_table('report_watermarks') as batch:
        batch.add_column(sa.Column('basis', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('report_watermarks') as batch:
        batch.drop_column('basis')
    op.drop_table('report_daily')
