"""The tables: every durable fact of the hotline.

SQLAlchemy 1.4 in the 2.0 style (declarative, `select()`), so the move to 2.x is mechanical.
Timestamps are stored as naive UTC and handed back timezone-aware (see UTCDateTime).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer,
                        MetaData, SmallInteger, String, Text, TypeDecorator, UniqueConstraint, func)
from sqlalchemy.orm import declarative_base, relationship

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
Base = declarative_base(metadata=metadata)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


class Department(Base):
    __tablename__ = "departments"
    id = Column(Integer, primary_key=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(100), nullable=False)
    name_en = Column(String(200), nullable=False, default="")
    phone = Column(String(40), nullable=False, default="")
    email = Column(String(200), nullable=False, default="")
    # taxonomy codes this department usually handles (dispatch suggestions)
    category_codes = Column(JSON, nullable=False, default=list)
    active = Column(Boolean, nullable=False, default=True)


class Category(Base):
    """Two-level taxonomy: a top-level node has no parent."""
    __tablename__ = "categories"
    id = Column(Integer, primary_key=True)
    code = Column(String(64), nullable=False, unique=True)
    name = Column(String(100), nullable=False)
    name_en = Column(String(200), nullable=False, default="")
    parent_id = Column(Integer, ForeignKey("categories.id"), nullable=True, index=True)
    keywords = Column(JSON, nullable=False, default=list)
    position = Column(Integer, nullable=False, default=0)
    active = Column(Boolean, nullable=False, default=True)
    parent = relationship("Category", remote_side=[id], lazy="joined", join_depth=1)


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(100), nullable=False, default="")
    agent_no = Column(String(16), nullable=True, unique=True)  # 工号, said to citizens
    password_hash = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False)  # agent | supervisor | department | admin
    department_id = Column(Integer, ForeignKey("departments.id"), nullable=True)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ApiToken(Base):
    """Bearer tokens for the REST API; only a SHA-256 of the token is stored."""
    __tablename__ = "api_tokens"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)


class Case(Base):
    """A 受理单: one citizen request, from registration to archive."""
    __tablename__ = "cases"
    id = Column(Integer, primary_key=True)
    number = Column(String(20), nullable=False, unique=True)
    password_hash = Column(String(200), nullable=False)
    kind = Column(String(24), nullable=False)
    category_id = Column(Integer, ForeignKey("categories.id"), nullable=True)
    category_confidence = Column(Float, nullable=True)  # the classifier's; NULL where a person chose (0013)
    title = Column(String(200), nullable=False)
    description = Column(Text, nullable=False)
    location = Column(String(300), nullable=False, default="")
    happened = Column(String(100), nullable=False, default="")  # as the citizen said it
    contact_name = Column(String(100), nullable=False, default="")
    contact_phone = Column(String(40), nullable=False, default="")
    contact_email = Column(String(200), nullable=False, default="")
    anonymous = Column(Boolean, nullable=False, default=False)
    wants_reply = Column(Boolean, nullable=False, default=True)
    channel = Column(String(24), nullable=False)
    urgency = Column(String(16), nullable=False, default="normal")
    status = Column(String(24), nullable=False)
    department_id = Column(Integer, ForeignKey("departments.id"), nullable=True)
    deadline = Column(UTCDateTime, nullable=True)
    reply = Column(Text, nullable=False, default="")
    replied_at = Column(UTCDateTime, nullable=True)
    satisfaction = Column(SmallInteger, nullable=True)  # 1 满意, 2 一般, 3 不满意
    conversation_id = Column(String(128), nullable=True)
    locale = Column(String(8), nullable=False, default="zh")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    closed_at = Column(UTCDateTime, nullable=True)

    category = relationship("Category", lazy="joined")
    department = relationship("Department", lazy="joined")

    __table_args__ = (
        Index("ix_cases_status_deadline", "status", "deadline"),
        # newest first, covering what the desk filters on: a walk along it never reads the rows (0010)
        Index("ix_cases_list", "created_at", "id", "status", "deadline", "kind", "department_id", "channel",
              "category_id", "number"),
        Index("ix_cases_contact_phone", "contact_phone"),
        # the same citizen by email, in any case of letters (cases/similar.py, migration 0016)
        Index("ix_cases_contact_email_lower", func.lower(contact_email)),
        # the desk's list: a filter's equality columns, then its order (newest first); with them a
        # page and a bounded count read matching index entries only (migration 0008)
        Index("ix_cases_status_created", "status", "created_at", "id"),
        Index("ix_cases_kind_status_created", "kind", "status", "created_at", "id"),
        Index("ix_cases_department_status_created", "department_id", "status", "created_at", "id"),
        # reports (cases/reports): a period's cases read from the index alone, without the rows
        Index("ix_cases_report", "created_at", "kind", "channel", "status", "category_id", "department_id",
              "deadline", "replied_at", "satisfaction", "id"),
    )


class CaseEvent(Base):
    """One row per change of a case, written in the same transaction as the change."""
    __tablename__ = "case_events"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    at = Column(UTCDateTime, nullable=False, default=utcnow)
    actor = Column(String(64), nullable=False)          # "citizen", "bot", "system", "user:<username>"
    user_id = Column(Integer, ForeignKey("users.id"), nullable=True)
    channel = Column(String(24), nullable=False)
    action = Column(String(24), nullable=False)
    from_status = Column(String(24), nullable=True)
    to_status = Column(String(24), nullable=True)
    comment = Column(Text, nullable=False, default="")
    public = Column(Boolean, nullable=False, default=False)
    data = Column(JSON, nullable=False, default=dict)

    __table_args__ = (Index("ix_case_events_case_id_at", "case_id", "at"),
                      Index("ix_case_events_action_at", "action", "at"),
                      Index("ix_case_events_case_id_action_at", "case_id", "action", "at"))  # reports


class Attachment(Base):
    """A file kept with a case (recording, original email, upload), stored by content hash."""
    __tablename__ = "attachments"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # recording | email | upload | scan
    filename = Column(String(255), nullable=False)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Reminder(Base):
    """催办 / 督办 records and agents' own reminder times."""
    __tablename__ = "reminders"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # remind (催办) | supervise (督办) | personal
    due_at = Column(UTCDateTime, nullable=False)
    created_by = Column(Integer, ForeignKey("users.id"), nullable=True)
    note = Column(Text, nullable=False, default="")
    done_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_reminders_due_open", "done_at", "due_at"),)


class KnowledgeArticle(Base):
    __tablename__ = "knowledge_articles"
    id = Column(Integer, primary_key=True)
    slug = Column(String(80), nullable=False, unique=True)
    category_id = Column(Integer, ForeignKey("categories.id"), nullable=True)
    question = Column(String(300), nullable=False)
    alternates = Column(JSON, nullable=False, default=list)
    keywords = Column(JSON, nullable=False, default=list)
    answer = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Poll(Base):
    __tablename__ = "polls"
    id = Column(Integer, primary_key=True)
    slug = Column(String(80), nullable=False, unique=True)
    title = Column(String(200), nullable=False)
    title_en = Column(String(200), nullable=False, default="")
    intro = Column(Text, nullable=False, default="")
    active = Column(Boolean, nullable=False, default=False)
    questions = relationship("PollQuestion", order_by="PollQuestion.position", lazy="selectin",
                             cascade="all, delete-orphan")


class PollQuestion(Base):
    __tablename__ = "poll_questions"
    id = Column(Integer, primary_key=True)
    poll_id = Column(Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False, index=True)
    position = Column(Integer, nullable=False)
    text = Column(String(300), nullable=False)
    # [{"key": "1", "text": "每天", "synonyms": [...]}, ...]
    options = Column(JSON, nullable=False, default=list)


class PollResponse(Base):
    __tablename__ = "poll_responses"
    id = Column(Integer, primary_key=True)
    poll_id = Column(Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=True)
    channel = Column(String(24), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class PollAnswer(Base):
    __tablename__ = "poll_answers"
    id = Column(Integer, primary_key=True)
    response_id = Column(Integer, ForeignKey("poll_responses.id", ondelete="CASCADE"), nullable=False, index=True)
    question_id = Column(Integer, ForeignKey("poll_questions.id", ondelete="CASCADE"), nullable=False)
    option_key = Column(String(16), nullable=False)
    __table_args__ = (UniqueConstraint("response_id", "question_id"),)


class DataChange(Base):
    """One change made in data maintenance (who, when, what): reference data has no case whose
    event history could hold it."""
    __tablename__ = "data_changes"
    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow)
    user_id = Column(Integer, ForeignKey("users.id"), nullable=True)
    actor = Column(String(64), nullable=False)      # "user:<username>"
    entity = Column(String(32), nullable=False)     # polls, departments, users, …
    key = Column(String(100), nullable=False)       # the row's primary key, as text
    action = Column(String(16), nullable=False)     # create | update | delete | activate | deactivate | copy
    data = Column(JSON, nullable=False, default=dict)

    __table_args__ = (Index("ix_data_changes_entity_key_at", "entity", "key", "at"),)


class CalendarDay(Base):
    """An exception to the Monday-to-Friday week: a holiday, or a weekend day worked (调休)."""
    __tablename__ = "calendar_days"
    day = Column(Date, primary_key=True)
    working = Column(Boolean, nullable=False)
    name = Column(String(64), nullable=False, default="")


class DeadlineRule(Base):
    """Working days allowed per case kind; the key 'urgent' holds the urgent rule."""
    __tablename__ = "deadline_rules"
    kind = Column(String(24), primary_key=True)
    working_days = Column(Integer, nullable=False)


class Conversation(Base):
    """One dialogue with the bot (a chat, a call, a mail thread), whatever its channel."""
    __tablename__ = "conversations"
    id = Column(String(128), primary_key=True)          # the channel's sender id
    channel = Column(String(24), nullable=False)
    caller = Column(String(200), nullable=False, default="")   # phone number or email address
    state = Column(String(16), nullable=False, default="bot")  # bot | waiting | agent | ended
    satisfaction = Column(SmallInteger, nullable=True)
    case_numbers = Column(JSON, nullable=False, default=list)
    started_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_conversations_state_updated", "state", "updated_at"),
                      Index("ix_conversations_updated_at", "updated_at"),  # the report summary's changes
                      Index("ix_conversations_started_at", "started_at", "channel", "satisfaction"))  # reports


class Handoff(Base):
    """A request for a human: why, what the bot understood, and who took it."""
    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
                             index=True)
    channel = Column(String(24), nullable=False)
    reason = Column(String(32), nullable=False)          # asked | failures | no_answer
    summary = Column(JSON, nullable=False, default=dict)  # intent, slots, last texts
    transcript = Column(JSON, nullable=False, default=list)
    requested_at = Column(UTCDateTime, nullable=False, default=utcnow)
    taken_by = Column(Integer, ForeignKey("users.id"), nullable=True)
    taken_at = Column(UTCDateTime, nullable=True)
    released_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_handoffs_open", "released_at", "requested_at"),
                      Index("ix_handoffs_requested_at", "requested_at"),          # reports
                      Index("ix_handoffs_taken_at", "taken_at", "taken_by"))     # reports


class ServiceRating(Base):
    """How a citizen rated a conversation (the bot, or the agent who took it over) when it ended: a
    SERVICE rating. It is not the case's outcome rating (Case.satisfaction), which only the 回访
    follow-up of the case's reply gives (migration 0015 separated the two)."""
    __tablename__ = "service_ratings"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True,
                             unique=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)  # no conversation known
    channel = Column(String(24), nullable=False)
    agent_id = Column(Integer, ForeignKey("users.id"), nullable=True)  # who took the hand-off; NULL: the bot
    value = Column(SmallInteger, nullable=False)  # 1 满意, 2 一般, 3 不满意
    rated_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_service_ratings_rated_at", "rated_at", "agent_id", "value"),)


class CaseLink(Base):
    """Two cases about one matter (cases/case_links.py): `related` (both stay and are worked; the
    pair is stored once, the smaller id first) or `merged` (case_id was closed as 已合并 into
    other_id, the master, which carries its words, files and history from then on)."""
    __tablename__ = "case_links"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    other_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)          # related | merged
    created_by = Column(Integer, ForeignKey("users.id"), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "other_id"),)


class CaseRequest(Base):
    """A department's request to the hotline centre: a new deadline (延期) or to give the case back
    (退回). The department cannot do either alone; a supervisor approves or refuses it."""
    __tablename__ = "case_requests"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)          # extend | return
    deadline = Column(UTCDateTime, nullable=True)      # extend: the deadline asked for
    reason = Column(Text, nullable=False, default="")
    requested_by = Column(Integer, ForeignKey("users.id"), nullable=True)
    requested_at = Column(UTCDateTime, nullable=False, default=utcnow)
    decision = Column(String(16), nullable=True)       # NULL pending | approved | refused
    decided_by = Column(Integer, ForeignKey("users.id"), nullable=True)
    decided_at = Column(UTCDateTime, nullable=True)
    decision_comment = Column(Text, nullable=False, default="")

    __table_args__ = (Index("ix_case_requests_pending", "decision", "requested_at"),)


class CaseFlow(Base):
    """Per case, what the reports need from its events (first dispatch and sign-for, whether it was
    returned, extended, reminded, reopened): a summary kept up to date from the append-only event
    log by cases/reports/facts.py, so period reports need not read every event again."""
    __tablename__ = "report_case_flow"
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    dispatched_at = Column(UTCDateTime, nullable=True)
    accepted_at = Column(UTCDateTime, nullable=True)
    returned = Column(SmallInteger, nullable=False, default=0)
    extended = Column(SmallInteger, nullable=False, default=0)
    reminded = Column(SmallInteger, nullable=False, default=0)
    reopened = Column(SmallInteger, nullable=False, default=0)


class ReportWatermark(Base):
    """How far into an append-only log a report summary has been brought (the last event id), and
    what the summary was computed under (`basis`: zone, calendar; a change rebuilds it)."""
    __tablename__ = "report_watermarks"
    name = Column(String(32), primary_key=True)
    last_id = Column(Integer, nullable=False, default=0)
    basis = Column(String(64), nullable=False, default="")
    last_at = Column(UTCDateTime, nullable=True)  # for a log without ids: changes since this time


class ReportDaily(Base):
    """Per dimension, local day and the dimension's value, the additive figures of the cases
    registered that day (cases/reports/daily.py): reports over long periods add up days instead of
    reading every case. `dim` is kind | channel | status | department | category | place | all, or
    a pair such as department+kind; `value` (and `value2` for a pair's second) is the code or id as text
    ('' for none, and for 'all')."""
    __tablename__ = "report_daily"
    dim = Column(String(24), primary_key=True)
    day = Column(Date, primary_key=True)
    value = Column(String(300), primary_key=True)
    value2 = Column(String(64), primary_key=True, default="")
    cases = Column(Integer, nullable=False, default=0)
    finished = Column(Integer, nullable=False, default=0)
    finished_on_time = Column(Integer, nullable=False, default=0)
    replied = Column(Integer, nullable=False, default=0)
    replied_on_time = Column(Integer, nullable=False, default=0)
    replied_late = Column(Integer, nullable=False, default=0)
    rated = Column(Integer, nullable=False, default=0)
    satisfied = Column(Integer, nullable=False, default=0)
    average = Column(Integer, nullable=False, default=0)
    dissatisfied = Column(Integer, nullable=False, default=0)
    signed = Column(Integer, nullable=False, default=0)
    signed_on_time = Column(Integer, nullable=False, default=0)
    returned = Column(Integer, nullable=False, default=0)
    extended = Column(Integer, nullable=False, default=0)
    reminded = Column(Integer, nullable=False, default=0)
    reopened = Column(Integer, nullable=False, default=0)
    first_case = Column(Integer, nullable=True)   # the smallest case id (hot spots' ties)


class ReportConversationDaily(Base):
    """Per local day and medium (call, chat, mail, other): the conversations that started that
    day and what became of them, and the hand-offs requested that day (cases/reports/conversations.py)."""
    __tablename__ = "report_conversation_daily"
    day = Column(Date, primary_key=True)
    medium = Column(String(8), primary_key=True)
    conversations = Column(Integer, nullable=False, default=0)
    rated = Column(Integer, nullable=False, default=0)
    satisfied = Column(Integer, nullable=False, default=0)
    asked = Column(Integer, nullable=False, default=0)       # asked for a human
    taken = Column(Integer, nullable=False, default=0)       # an agent took it
    abandoned = Column(Integer, nullable=False, default=0)   # the request ended before an agent took it
    handoffs = Column(Integer, nullable=False, default=0)    # by the day requested
    handoffs_taken = Column(Integer, nullable=False, default=0)


class ReportAgentDaily(Base):
    """Per local day, agent and action: the agent's case events of that action, and as 'call' and
    'chat' the conversations the agent took over that day and the calls' talk time in seconds
    (cases/reports/agent_daily.py)."""
    __tablename__ = "report_agent_daily"
    day = Column(Date, primary_key=True)
    user_id = Column(Integer, primary_key=True)
    action = Column(String(16), primary_key=True)
    n = Column(Integer, nullable=False, default=0)
    talk = Column(Float, nullable=False, default=0.0)


class CannedReply(Base):
    """An agent's 常用语: a text sent in live chat by its shortcut; no owner means shared by all."""
    __tablename__ = "canned_replies"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    shortcut = Column(String(32), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class MailMessage(Base):
    """One incoming mail, by its Message-ID (or a hash of its bytes when it has none): what became
    of it. The row is claimed before the work and finished in the transaction that records the
    outcome, so a mail is never turned into two cases and never dropped by a crash in between."""
    __tablename__ = "mail_messages"
    id = Column(Integer, primary_key=True)
    message_key = Column(String(64), nullable=False, unique=True)  # sha256 of the normalized Message-ID
    message_id = Column(Text, nullable=False, default="")
    source = Column(String(8), nullable=False)              # imap | smtp
    sender = Column(String(320), nullable=False, default="")
    subject = Column(String(300), nullable=False, default="")
    size = Column(Integer, nullable=False, default=0)
    raw_sha256 = Column(String(64), nullable=True)          # the original, in the attachment store
    # processing | case | event | status | held | ignored | released
    state = Column(String(16), nullable=False)
    reason = Column(String(32), nullable=False, default="")  # spam, foreign_reply, auto_reply, bounce …
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True)
    claimed_at = Column(UTCDateTime, nullable=False, default=utcnow)
    done_at = Column(UTCDateTime, nullable=True)
    released_by = Column(String(64), nullable=True)
    released_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_mail_messages_state_claimed", "state", "claimed_at"),)


class MailOutbox(Base):
    """A mail the hotline sends (acknowledgement, status, reply notice, department notice), kept
    until the SMTP server has taken it; its Message-ID threads the citizen's answer to the case."""
    __tablename__ = "mail_outbox"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True)
    purpose = Column(String(16), nullable=False)            # ack | status | reply | close | dispatch | remind
    recipient = Column(String(320), nullable=False)
    message_id = Column(String(255), nullable=False, unique=True)
    body = Column(Text, nullable=False)                     # the whole message, ready for SMTP
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    next_try_at = Column(UTCDateTime, nullable=False, default=utcnow)
    attempts = Column(Integer, nullable=False, default=0)
    sent_at = Column(UTCDateTime, nullable=True)
    error = Column(Text, nullable=False, default="")
    # "<mail key>:<purpose>" for an answer to an incoming mail: never queued twice for one mail
    dedupe_key = Column(String(100), nullable=True, unique=True, index=True)
    # set (and committed) before the SMTP transaction: a row with it but no sent_at was interrupted
    # mid-send and is not sent again (at most once; see channels/email/outbox.py)
    sending_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "next_try_at"),)


class MailCursor(Base):
    """How far the mail notifier has read the case events (mails to citizens and departments)."""
    __tablename__ = "mail_cursors"
    name = Column(String(32), primary_key=True)
    last_event_id = Column(Integer, nullable=False, default=0)


class Leader(Base):
    """A city or county leader whose phone an agent may transfer an emergency call to (执法调度).
    Admins keep the list; agents see the names and titles, never the numbers."""
    __tablename__ = "leaders"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    title = Column(String(100), nullable=False, default="")   # 职务, e.g. 副市长
    phone = Column(String(40), nullable=False)
    position = Column(Integer, nullable=False, default=0)     # order in the desk's list
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class CallTransfer(Base):
    """One transfer (转接) of a live call: who handed which call to whom, when, how it ended.
    The case's history has the same facts as events (transfer, transfer_result)."""
    __tablename__ = "call_transfers"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True)
    user_id = Column(Integer, ForeignKey("users.id"), nullable=True)
    agent_no = Column(String(16), nullable=False)
    mode = Column(String(12), nullable=False)                 # blind | attended
    target_kind = Column(String(12), nullable=False)          # department | leader | number
    target_ref = Column(String(40), nullable=False, default="")  # department code, leader id
    target_label = Column(String(200), nullable=False, default="")  # what the desk shows (no leader number)
    number = Column(String(40), nullable=False)               # what was dialled
    linkedid = Column(String(32), nullable=False, default="")  # the call (and its recording)
    # dialing | consulting | done
    state = Column(String(12), nullable=False, default="dialing")
    # answered | busy | no_answer | declined | failed | cancelled | citizen_hung_up | agent_hung_up
    outcome = Column(String(20), nullable=True)
    returned_to = Column(String(8), nullable=True)            # agent | queue: where the citizen went back
    started_at = Column(UTCDateTime, nullable=False, default=utcnow)
    answered_at = Column(UTCDateTime, nullable=True)
    ended_at = Column(UTCDateTime, nullable=True)
