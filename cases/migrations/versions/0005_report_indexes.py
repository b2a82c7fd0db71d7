"""indexes for the reports (cases/reports)

A period's cases are read from ix_cases_report alone (index-only scans on PostgreSQL, a covering
index on SQLite); per-case event figures use ix_case_events_case_id_action_at; traffic and answer
rates find a period's conversations and hand-offs by their start, request and take-over times.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:05:00
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_report', ['created_at', 'kind', 'channel', 'status', 'category_id',
                                                  'department_id', 'deadline', 'replied_at', 'satisfaction', 'id'],
                              unique=False)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_case_id_action_at', ['case_id', 'action', 'at'], unique=False)
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_started_at', ['started_at', 'channel', 'satisfaction'],
                              unique=False)
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_requested_at', ['requested_at'], unique=False)
        batch_op.create_index('ix_handoffs_taken_at', ['taken_at', 'taken_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_taken_at')
        batch_op.drop_index('ix_handoffs_requested_at')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_started_at')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_case_id_action_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_report')
