"""A small, fully known history for the report tests: every figure the tests expect is worked out
by hand in the comments below (report period: November 2026, Asia/Shanghai, as of 2026-12-10).

Times are UTC; local (Shanghai) time is UTC+8, so 2026-10-31T16:30Z is 1 November 00:30 local and
2026-11-30T16:00Z is already 1 December. 2026-11-01 is a Sunday.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cases.db import make_sync_engine
from cases.models import Case, CaseEvent, Category, Conversation, Department, Handoff, User

AS_OF = dt.datetime(2026, 12, 10, tzinfo=dt.timezone.utc)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# number, kind, category, channel, department, status, created, deadline, replied, satisfaction, location,
# events: (at, user or None, action, data)
CASES = [
    # c1: 1 Nov 00:30 local (Sunday). Dispatched Mon 2 Nov 09:00, signed 14:00 (limit: end of Tue 3 Nov):
    # on time. Replied 10 Nov, deadline 18 Nov: on time. Followed up, satisfied.
    ("2611010000011", "complaint", "cxjs.wygl", "phone_agent", "zjj", "followed_up", "2026-10-31T16:30:00Z",
     "2026-11-18T10:00:00Z", "2026-11-10T02:00:00Z", 1, "幸福小区东门", [
         ("2026-10-31T16:30:00Z", "agent1", "register", {}),
         ("2026-11-02T01:00:00Z", "agent1", "dispatch", {"department": "zjj"}),
         ("2026-11-02T06:00:00Z", "dept1", "accept", {}),
         ("2026-11-10T02:00:00Z", "dept1", "reply", {}),
         ("2026-11-12T02:00:00Z", "agent2", "follow_up", {"satisfaction": 1})]),
    # c2: Thu 5 Nov 10:00 local from web chat. Dispatched Thu 19:00 local (after hours: the limit counts
    # from Fri, so it is the end of Mon 9 Nov); signed Mon 17:00: on time. Extended to 20 Nov, reminded,
    # replied 25 Nov: late. Dissatisfied, then reopened (status dispatched again).
    ("2611050000021", "complaint", "hjbh.zswr", "webchat", "sthjj", "dispatched", "2026-11-05T02:00:00Z",
     "2026-11-20T10:00:00Z", "2026-11-25T03:00:00Z", 3, "", [
         ("2026-11-05T02:00:00Z", None, "register", {}),
         ("2026-11-05T11:00:00Z", "agent1", "dispatch", {"department": "sthjj"}),
         ("2026-11-09T09:00:00Z", "dept2", "accept", {}),
         ("2026-11-12T03:00:00Z", "dept2", "extend", {"deadline": "2026-11-20T10:00:00+00:00"}),
         ("2026-11-19T03:00:00Z", "agent2", "remind", {}),
         ("2026-11-25T03:00:00Z", "dept2", "reply", {}),
         ("2026-11-26T03:00:00Z", "agent2", "follow_up", {"satisfaction": 3}),
         ("2026-11-27T03:00:00Z", "agent2", "reopen", {"department": "sthjj"})]),
    # c3: consultation answered on the spot by agent 1024; no department.
    ("2611100000031", "consultation", "cxjs.wygl", "phone_agent", None, "answered", "2026-11-10T01:00:00Z",
     "2026-11-13T10:00:00Z", "2026-11-10T01:05:00Z", None, "幸福小区东门", [
         ("2026-11-10T01:00:00Z", "agent1", "register", {}),
         ("2026-11-10T01:05:00Z", "agent1", "answer", {})]),
    # c4: 30 Nov 23:59 local (still November); dispatched 1 Dec, never signed; deadline 5 Dec: overdue.
    ("2611300000041", "report", "hjbh.zswr", "phone_self", "sthjj", "dispatched", "2026-11-30T15:59:00Z",
     "2026-12-05T10:00:00Z", None, None, "  人民公园南门 ", [
         ("2026-11-30T15:59:00Z", None, "register", {}),
         ("2026-12-01T01:00:00Z", "agent2", "dispatch", {"department": "sthjj"})]),
    # c5: Fri 20 Nov; dispatched Fri 11:00 (limit: end of Mon 23 Nov); signed Tue 24 Nov: late; reminded,
    # returned; deadline 8 Dec passed: overdue.
    ("2611200000051", "complaint", "cxjs.wygl", "phone_agent", "zjj", "returned", "2026-11-20T02:00:00Z",
     "2026-12-08T10:00:00Z", None, None, "", [
         ("2026-11-20T02:00:00Z", "agent2", "register", {}),
         ("2026-11-20T03:00:00Z", "agent2", "dispatch", {"department": "zjj"}),
         ("2026-11-24T02:00:00Z", "dept1", "accept", {}),
         ("2026-11-25T01:00:00Z", "agent2", "remind", {}),
         ("2026-11-24T05:00:00Z", "dept1", "return", {})]),
    # outside November 2026:
    # c6: 1 Dec 00:00 local.
    ("2612010000061", "complaint", "cxjs.wygl", "web", None, "registered", "2026-11-30T16:00:00Z",
     "2026-12-17T10:00:00Z", None, None, "幸福小区东门", [("2026-11-30T16:00:00Z", None, "register", {})]),
    # c7, c8: October 2026 (环比); c8 is 31 Oct 23:30 local.
    ("2610150000071", "consultation", "cxjs.wygl", "web", None, "registered", "2026-10-15T04:00:00Z",
     "2026-10-20T10:00:00Z", None, None, "", [("2026-10-15T04:00:00Z", None, "register", {})]),
    ("2610310000081", "complaint", "hjbh.zswr", "phone_agent", None, "registered", "2026-10-31T15:30:00Z",
     "2026-11-18T10:00:00Z", None, None, "", [("2026-10-31T15:30:00Z", "agent1", "register", {})]),
    # c9: November 2025 (同比).
    ("2511110000091", "complaint", "cxjs.wygl", "phone_agent", "zjj", "closed", "2025-11-11T02:00:00Z",
     "2025-11-28T10:00:00Z", "2025-11-20T02:00:00Z", 2, "幸福小区东门", [
         ("2025-11-11T02:00:00Z", "agent1", "register", {}),
         ("2025-11-11T03:00:00Z", "agent1", "dispatch", {"department": "zjj"}),
         ("2025-11-11T05:00:00Z", "dept1", "accept", {}),
         ("2025-11-20T02:00:00Z", "dept1", "reply", {}),
         ("2025-11-22T02:00:00Z", "agent1", "follow_up", {"satisfaction": 2}),
         ("2025-11-23T02:00:00Z", "agent1", "close", {})]),
]

# id, channel, started, satisfaction, handoff (asked, taken_by, taken, released) or None
CONVERSATIONS = [
    ("v1", "voice", "2026-10-31T16:20:00Z", 1, ("2026-10-31T16:21:00Z", "agent1", "2026-10-31T16:22:00Z",
                                                "2026-10-31T16:27:00Z")),       # answered: 300 s talk
    ("v2", "voice", "2026-11-10T00:58:00Z", None, None),                         # self-served
    ("v3", "voice", "2026-11-15T02:00:00Z", None, ("2026-11-15T02:01:00Z", None, None,
                                                   "2026-11-15T02:03:00Z")),     # abandoned
    ("w1", "webchat", "2026-11-05T01:50:00Z", None, ("2026-11-05T01:51:00Z", "agent2", "2026-11-05T01:52:00Z",
                                                     "2026-11-05T02:10:00Z")),   # chat taken
    ("m1", "email", "2026-11-20T01:00:00Z", None, None),
    ("v4", "voice", "2026-11-30T16:05:00Z", None, None),                         # 1 Dec local
    ("v5", "voice", "2025-11-11T01:00:00Z", None, None),                         # last year
]


def load(db_url: str) -> None:
    """Write the history above (reference data and users must exist: see tests)."""
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as conn:
            users = {u.username: u.id for u in conn.execute(select(User.username, User.id))}
            cats = {c.code: c.id for c in conn.execute(select(Category.code, Category.id))}
            depts = {d.code: d.id for d in conn.execute(select(Department.code, Department.id))}
            for (number, kind, cat, channel, dept, status, created, deadline, replied, sat, location,
                 events) in CASES:
                case_id = conn.execute(Case.__table__.insert().values(
                    number=number, password_hash="!", kind=kind, category_id=cats[cat], title="t", description="d",
                    location=location, happened="", contact_name="", contact_phone="", contact_email="",
                    anonymous=False, wants_reply=True, channel=channel, urgency="normal", status=status,
                    department_id=depts[dept] if dept else None, deadline=utc(deadline), reply="",
                    replied_at=utc(replied) if replied else None, satisfaction=sat, locale="zh",
                    created_at=utc(created), updated_at=utc(created),
                )).inserted_primary_key[0]
                for at, who, action, data in events:
                    conn.execute(CaseEvent.__table__.insert().values(
                        case_id=case_id, at=utc(at), actor=f"user:{who}" if who else "citizen",
                        user_id=users[who] if who else None, channel="web", action=action, comment="",
                        public=True, data=data))
            for conv_id, channel, started, sat, handoff in CONVERSATIONS:
                conn.execute(Conversation.__table__.insert().values(
                    id=conv_id, channel=channel, caller="", state="ended", satisfaction=sat, case_numbers=[],
                    started_at=utc(started), updated_at=utc(started)))
                if handoff:
                    asked, who, taken, released = handoff
                    conn.execute(Handoff.__table__.insert().values(
                        conversation_id=conv_id, channel=channel, reason="asked", summary={}, transcript=[],
                        requested_at=utc(asked), taken_by=users[who] if who else None,
                        taken_at=utc(taken) if taken else None, released_at=utc(released) if released else None))
    finally:
        engine.dispose()
