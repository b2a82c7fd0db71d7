"""service_ratings: the rating a citizen gives a conversation (bot or agent) kept apart from the
case's outcome rating (cases.satisfaction, from the 回访 follow-up only); case_requests: a
department's 延期 / 退回 requests that the hotline centre approves or refuses

How existing rows are told apart (the event log says where every rating came from):
- a `follow_up` event carries an OUTCOME rating (data.satisfaction, given on the 回访 call);
- a `survey` event carries a SERVICE rating (data.satisfaction, data.conversation): the answer to
  "how satisfied were you with this service" at the end of a conversation, which until now was
  also copied onto every case the conversation had filed or looked up;
- conversations.satisfaction is the conversation's own (service) answer.
So: every conversation with a satisfaction becomes one service rating (its agent: whoever took its
latest hand-off), every survey event whose conversation has none (or names none) becomes one too;
and each case's satisfaction is set again from its latest follow_up event, or NULL where it was
never followed up (those values were service ratings). The daily report summary, which counts the
cases' satisfaction, is rebuilt by the next refresh (its watermark is removed).

Also: a case whose latest granted extension (`extend` event, not followed by a 派单/重办 that set a new
deadline) is later than its deadline gets that deadline (generated histories kept the old one).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:40:00
"""
from alembic import op
import sqlalchemy as sa
import cases.models


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

conversations = sa.table('conversations', sa.column('id', sa.String), sa.column('channel', sa.String),
                         sa.column('satisfaction', sa.SmallInteger), sa.column('case_numbers', sa.JSON),
                         sa.column('updated_at', cases.models.UTCDateTime()))
handoffs = sa.table('handoffs', sa.column('conversation_id', sa.String), sa.column('taken_by', sa.Integer),
                    sa.column('taken_at', cases.models.UTCDateTime()))
events = sa.table('case_events', sa.column('id', sa.Integer), sa.column('case_id', sa.Integer),
                  sa.column('action', sa.String), sa.column('channel', sa.String),
                  sa.column('at', cases.models.UTCDateTime()), sa.column('data', sa.JSON))
cases_t = sa.table('cases', sa.column('id', sa.Integer), sa.column('number', sa.String),
                   sa.column('satisfaction', sa.SmallInteger), sa.column('deadline', cases.models.UTCDateTime()))
ratings = sa.table('service_ratings', sa.column('conversation_id', sa.String), sa.column('case_id', sa.Integer),
                   sa.column('channel', sa.String), sa.column('agent_id', sa.Integer),
                   sa.column('value', sa.SmallInteger), sa.column('rated_at', cases.models.UTCDateTime()))


def _value(data) -> int | None:
    try:
        value = int((data or {}).get('satisfaction'))
    except (TypeError, ValueError):
        return None
    return value if value in (1, 2, 3) else None


def _separate_ratings(conn) -> None:
    agents = {}  # conversation -> the agent who took its latest hand-off
    for r in conn.execute(sa.select(handoffs.c.conversation_id, handoffs.c.taken_by)
                          .where(handoffs.c.taken_by.isnot(None)).order_by(handoffs.c.taken_at)):
        agents[r.conversation_id] = r.taken_by
    rows, rated = [], set()
    for r in conn.execute(sa.select(conversations).where(conversations.c.satisfaction.isnot(None))):
        if r.satisfaction in (1, 2, 3):
            numbers = r.case_numbers or []  # the case it filed last, as the gateway now records it
            case_id = conn.execute(sa.select(cases_t.c.id).where(cases_t.c.number == numbers[-1])).scalar() \
                if numbers else None
            rows.append({'conversation_id': r.id, 'case_id': case_id, 'channel': r.channel,
                         'agent_id': agents.get(r.id), 'value': r.satisfaction, 'rated_at': r.updated_at})
            rated.add(r.id)
    known = {r.id for r in conn.execute(sa.select(conversations.c.id))}
    outcome: dict[int, int | None] = {}
    for e in conn.execute(sa.select(events).where(events.c.action.in_(['survey', 'follow_up']))
                          .order_by(events.c.id)):
        value = _value(e.data)
        if e.action == 'follow_up':
            outcome[e.case_id] = value
            continue
        if value is None:
            continue
        conv = (e.data or {}).get('conversation')
        if conv in rated:  # one conversation rated once, whatever number of cases it touched
            continue
        if conv and conv in known:
            rated.add(conv)
            rows.append({'conversation_id': conv, 'case_id': e.case_id, 'channel': e.channel,
                         'agent_id': agents.get(conv), 'value': value, 'rated_at': e.at})
        else:  # a survey that names no (kept) conversation: the case is all we know
            rows.append({'conversation_id': None, 'case_id': e.case_id, 'channel': e.channel,
                         'agent_id': None, 'value': value, 'rated_at': e.at})
    if rows:
        conn.execute(ratings.insert(), rows)
    for case_id, value in conn.execute(sa.select(cases_t.c.id, cases_t.c.satisfaction)
                                       .where(cases_t.c.satisfaction.isnot(None))).all():
        if outcome.get(case_id) != value:
            conn.execute(cases_t.update().where(cases_t.c.id == case_id)
                         .values(satisfaction=outcome.get(case_id)))
    conn.execute(sa.text("DELETE FROM report_watermarks WHERE name = 'daily'"))


def _granted_deadlines(conn) -> None:
    """Cases whose granted 延期 never reached their own deadline (the history generator of
    `hotline demo-data` wrote the `extend` event and kept the old deadline, so they stayed on the
    overdue lists): the deadline of the latest extension, unless a later 派单/重办 set a new one."""
    import datetime as dt

    extended: dict[int, dt.datetime] = {}
    for e in conn.execute(sa.select(events.c.case_id, events.c.action, events.c.data)
                          .where(events.c.action.in_(['extend', 'dispatch', 'reopen'])).order_by(events.c.id)):
        if e.action != 'extend':
            extended.pop(e.case_id, None)
            continue
        try:
            when = dt.datetime.fromisoformat(str((e.data or {}).get('deadline')))
        except ValueError:
            continue
        extended[e.case_id] = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    for case_id, deadline in extended.items():
        conn.execute(cases_t.update().where(cases_t.c.id == case_id, sa.or_(
            cases_t.c.deadline.is_(None), cases_t.c.deadline < deadline)).values(deadline=deadline))


def upgrade() -> None:
    op.create_table('service_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.Column('rated_at', cases.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_service_ratings_agent_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_service_ratings_case_id_cases'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                            name=op.f('fk_service_ratings_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_ratings')),
    sa.UniqueConstraint('conversation_id', name=op.f('uq_service_ratings_conversation_id'))
    )
    op.create_index('ix_service_ratings_rated_at', 'service_ratings', ['rated_at', 'agent_id', 'value'],
                    unique=False)
    op.create_table('case_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('deadline', cases.models.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('requested_at', cases.models.UTCDateTime(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', cases.models.UTCDateTime(), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_requests_case_id_cases'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_case_requests_decided_by_users')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_case_requests_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_requests'))
    )
    op.create_index(op.f('ix_case_requests_case_id'), 'case_requests', ['case_id'], unique=False)
    op.create_index('ix_case_requests_pending', 'case_requests', ['decision', 'requested_at'], unique=False)
    _separate_ratings(op.get_bind())
    _granted_deadlines(op.get_bind())


def downgrade() -> None:
    # the service ratings go back onto the cases their conversations filed only as far as the
    # conversations still say so (conversations.satisfaction is kept): the separation is one-way
    op.drop_index('ix_case_requests_pending', table_name='case_requests')
    op.drop_index(op.f('ix_case_requests_case_id'), table_name='case_requests')
    op.drop_table('case_requests')
    op.drop_index('ix_service_ratings_rated_at', table_name='service_ratings')
    op.drop_table('service_ratings')
