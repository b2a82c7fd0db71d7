"""leaders (the protected list of leaders' phones) and call_transfers (who transferred which live
call to whom, when, and how it ended: issue 22)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:30:00
"""
from alembic import op
import sqlalchemy as sa

from cases.models import UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'leaders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_leaders')))
    op.create_table(
        'call_transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('agent_no', sa.String(length=16), nullable=False),
        sa.Column('mode', sa.String(length=12), nullable=False),
        sa.Column('target_kind', sa.String(length=12), nullable=False),
        sa.Column('target_ref', sa.String(length=40), nullable=False),
        sa.Column('target_label', sa.String(length=200), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('linkedid', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('returned_to', sa.String(length=8), nullable=True),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('answered_at', UTCDateTime(), nullable=True),
        sa.Column('ended_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_call_transfers_case_id_cases'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_call_transfers_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_transfers')))
    op.create_index(op.f('ix_call_transfers_case_id'), 'call_transfers', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_call_transfers_case_id'), table_name='call_transfers')
    op.drop_table('call_transfers')
    op.drop_table('leaders')
