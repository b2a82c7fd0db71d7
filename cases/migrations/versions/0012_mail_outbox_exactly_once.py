"""mail outbox sent exactly once: a unique key per (mail, kind) so that one incoming mail never
queues the same answer twice (mail_outbox.dedupe_key), and the time a send began
(mail_outbox.sending_at), marked before the SMTP transaction so a restart never sends it again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:20:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('sending_at', cases.models.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_mail_outbox_dedupe_key'), ['dedupe_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_outbox_dedupe_key'))
        batch_op.drop_column('sending_at')
        batch_op.drop_column('dedupe_key')
