"""case_links: two cases about one matter, related or merged (cases/case_links.py); an index on
lower(cases.contact_email), by which the similar-case finder (cases/similar.py) finds the same citizen

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:00:00
"""
from alembic import op
import sqlalchemy as sa

from cases.models import UTCDateTime

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('other_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_links_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['other_id'], ['cases.id'], name=op.f('fk_case_links_other_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_case_links_created_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_links')),
        sa.UniqueConstraint('case_id', 'other_id', name=op.f('uq_case_links_case_id_other_id')))
    op.create_index(op.f('ix_case_links_other_id'), 'case_links', ['other_id'], unique=False)
    op.create_index('ix_cases_contact_email_lower', 'cases', [sa.text('lower(contact_email)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_cases_contact_email_lower', table_name='cases')
    op.drop_index(op.f('ix_case_links_other_id'), table_name='case_links')
    op.drop_table('case_links')
