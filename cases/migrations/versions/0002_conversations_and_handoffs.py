"""conversations and handoffs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:10:00.844848
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('conversations',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('caller', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
    sa.Column('case_numbers', sa.JSON(), nullable=False),
    sa.Column('started_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cases.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_state_updated', ['state', 'updated_at'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('transcript', sa.JSON(), nullable=False),
    sa.Column('requested_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('taken_by', sa.Integer(), nullable=True),
    sa.Column('taken_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('released_at', cases.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_handoffs_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['taken_by'], ['users.id'], name=op.f('fk_handoffs_taken_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoffs_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_handoffs_open', ['released_at', 'requested_at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_open')
        batch_op.drop_index(batch_op.f('ix_handoffs_conversation_id'))

    op.drop_table('handoffs')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_state_updated')

    op.drop_table('conversations')
    
