"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 02:58:34.078665
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_categories_code'))
    )
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('deadline_rules',
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_deadline_rules'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('category_codes', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('code', name=op.f('uq_departments_code'))
    )
    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_polls')),
    sa.UniqueConstraint('slug', name=op.f('uq_polls_slug'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=300), nullable=False),
    sa.Column('happened', sa.String(length=100), nullable=False),
    sa.Column('contact_name', sa.String(length=100), nullable=False),
    sa.Column('contact_phone', sa.String(length=40), nullable=False),
    sa.Column('contact_email', sa.String(length=200), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('wants_reply', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('deadline', cases.models.UTCDateTime(), nullable=True),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('replied_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('closed_at', cases.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_cases_category_id_categories')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_cases_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('number', name=op.f('uq_cases_number'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_contact_phone', ['contact_phone'], unique=False)
        batch_op.create_index('ix_cases_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_cases_department_status', ['department_id', 'status'], unique=False)
        batch_op.create_index('ix_cases_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('knowledge_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('question', sa.String(length=300), nullable=False),
    sa.Column('alternates', sa.JSON(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_knowledge_articles_category_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_articles')),
    sa.UniqueConstraint('slug', name=op.f('uq_knowledge_articles_slug'))
    )
    op.create_table('poll_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=300), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_questions_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_questions'))
    )
    with op.batch_alter_table('poll_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_questions_poll_id'), ['poll_id'], unique=False)

    op.create_table('poll_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_responses_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_responses'))
    )
    with op.batch_alter_table('poll_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_responses_poll_id'), ['poll_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('agent_no', sa.String(length=16), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_users_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('agent_no', name=op.f('uq_users_agent_no')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_attachments_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_case_id'), ['case_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_action_at', ['action', 'at'], unique=False)
        batch_op.create_index('ix_case_events_case_id_at', ['case_id', 'at'], unique=False)

    op.create_table('poll_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('option_key', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['poll_questions.id'], name=op.f('fk_poll_answers_question_id_poll_questions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['poll_responses.id'], name=op.f('fk_poll_answers_response_id_poll_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_answers')),
    sa.UniqueConstraint('response_id', 'question_id', name=op.f('uq_poll_answers_response_id_question_id'))
    )
    with op.batch_alter_table('poll_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_answers_response_id'), ['response_id'], unique=False)

    op.create_table('reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('done_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_reminders_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_reminders_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders'))
    )
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminders_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_reminders_due_open', ['done_at', 'due_at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_reminders_due_open')
        batch_op.drop_index(batch_op.f('ix_reminders_case_id'))

    op.drop_table('reminders')
    with op.batch_alter_table('poll_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_answers_response_id'))

    op.drop_table('poll_answers')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_case_id_at')
        batch_op.drop_index('ix_case_events_action_at')

    op.drop_table('case_events')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_case_id'))

    op.drop_table('attachments')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    with op.batch_alter_table('poll_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_responses_poll_id'))

    op.drop_table('poll_responses')
    with op.batch_alter_table('poll_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_questions_poll_id'))

    op.drop_table('poll_questions')
    op.drop_table('knowledge_articles')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_status_deadline')
        batch_op.drop_index('ix_cases_department_status')
        batch_op.drop_index('ix_cases_created_at')
        batch_op.drop_index('ix_cases_contact_phone')

    op.drop_table('cases')
    op.drop_table('polls')
    op.drop_table('departments')
    op.drop_table('deadline_rules')
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_categories_parent_id'))

    op.drop_table('categories')
    op.drop_table('calendar_days')
    
