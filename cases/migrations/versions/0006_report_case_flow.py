"""report summary of each case's events (report_case_flow) and its watermark

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:12:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_case_flow',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('dispatched_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('accepted_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('returned', sa.SmallInteger(), nullable=False),
    sa.Column('extended', sa.SmallInteger(), nullable=False),
    sa.Column('reminded', sa.SmallInteger(), nullable=False),
    sa.Column('reopened', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_report_case_flow_case_id_cases'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_report_case_flow'))
    )
    op.create_table('report_watermarks',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_report_watermarks'))
    )


def downgrade() -> None:
    op.drop_table('report_watermarks')
    op.drop_table('report_case_flow')
