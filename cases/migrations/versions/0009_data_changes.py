"""data_changes: every change made in data maintenance (polls, departments, users, …), who and when

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_data_changes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_changes'))
    )
    with op.batch_alter_table('data_changes', schema=None) as batch_op:
        batch_op.create_index('ix_data_changes_entity_key_at', ['entity', 'key', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_data_changes_entity_key_at')
    op.drop_table('data_changes')
