"""canned replies for the agents' desk

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:55:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('shortcut', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_canned_replies_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies'))
    )
    op.create_index(op.f('ix_canned_replies_user_id'), 'canned_replies', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_canned_replies_user_id'), table_name='canned_replies')
    op.drop_table('canned_replies')
