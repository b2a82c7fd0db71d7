"""The case workflow as one explicit state machine, and the vocabularies a case is made of.

Every state change goes through `transition()`; the store writes its event row in the same
transaction. Codes are ASCII (stable in URLs, APIs and the database); labels are what people read.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    CONSULTATION = "consultation"
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    HELP = "help"
    PRAISE = "praise"
    MAYOR_MAILBOX = "mayor_mailbox"


KIND_LABELS = {
    Kind.CONSULTATION: ("咨询", "Consultation"),
    Kind.COMPLAINT: ("投诉", "Complaint"),
    Kind.REPORT: ("举报", "Report"),
    Kind.SUGGESTION: ("建议", "Suggestion"),
    Kind.HELP: ("求助", "Request for help"),
    Kind.PRAISE: ("表扬", "Praise"),
    Kind.MAYOR_MAILBOX: ("市长信箱", "Mayor's mailbox"),
}


class Channel(str, Enum):
    PHONE_SELF = "phone_self"
    PHONE_AGENT = "phone_agent"
    WEB = "web"
    WEBCHAT = "webchat"
    EMAIL = "email"
    LETTER = "letter"
    FAX = "fax"


CHANNEL_LABELS = {
    Channel.PHONE_SELF: ("电话自助", "Phone (self-service)"),
    Channel.PHONE_AGENT: ("电话人工", "Phone (agent)"),
    Channel.WEB: ("网站", "Website"),
    Channel.WEBCHAT: ("网上聊天", "Web chat"),
    Channel.EMAIL: ("电子邮件", "Email"),
    Channel.LETTER: ("来信", "Letter"),
    Channel.FAX: ("传真", "Fax"),
}


class Urgency(str, Enum):
    NORMAL = "normal"
    URGENT = "urgent"


URGENCY_LABELS = {Urgency.NORMAL: ("一般", "Normal"), Urgency.URGENT: ("紧急", "Urgent")}


class Status(str, Enum):
    REGISTERED = "registered"
    ANSWERED = "answered"          # consultation answered on the spot
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RETURNED = "returned"          # sent back to the hotline by the department
    REPLIED = "replied"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"
    MERGED = "merged"              # closed into another case about the same matter (cases/case_links.py)


STATUS_LABELS = {
    Status.REGISTERED: ("已登记", "Registered"),
    Status.ANSWERED: ("当场答复", "Answered on the spot"),
    Status.DISPATCHED: ("已派单", "Dispatched"),
    Status.ACCEPTED: ("已签收", "Accepted by department"),
    Status.IN_PROGRESS: ("处理中", "In progress"),
    Status.RETURNED: ("已退回", "Returned by department"),
    Status.REPLIED: ("已办结", "Replied"),
    Status.FOLLOWED_UP: ("已回访", "Followed up"),
    Status.CLOSED: ("已归档", "Closed"),
    Status.MERGED: ("已合并", "Merged"),
}

# States in which the case is still being worked (deadlines and reminders apply).
OPEN_STATUSES = frozenset({Status.REGISTERED, Status.DISPATCHED, Status.ACCEPTED,
                           Status.IN_PROGRESS, Status.RETURNED})

SATISFACTION_LABELS = {1: ("满意", "Satisfied"), 2: ("一般", "Average"), 3: ("不满意", "Dissatisfied")}
# a 回访 call that reached nobody: no rating, the case stays on the follow-up list (try again later)
UNREACHED = "unreached"
REQUEST_KINDS = {"extend": ("延期", "Extension"), "return": ("退回", "Return")}


class Role(str, Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"
    ADMIN = "admin"


ROLE_LABELS = {Role.AGENT: ("话务员", "Agent"), Role.SUPERVISOR: ("班长", "Supervisor"),
               Role.DEPARTMENT: ("部门经办人", "Department handler"), Role.ADMIN: ("管理员", "Administrator")}

HOTLINE_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
DEPARTMENT_ROLES = frozenset({Role.DEPARTMENT, Role.SUPERVISOR, Role.ADMIN})
CENTRE_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})  # the hotline centre's approvals


@dataclass(frozen=True)
class Action:
    code: str
    label: tuple[str, str]
    sources: frozenset[Status]
    target: Status | None          # None: the state stays (an event only)
    roles: frozenset[Role]
    requires: tuple[str, ...] = ()  # fields the action cannot do without
    public: bool = True             # does the citizen see this event in the lookup


def _action(code, label, sources, target, roles, requires=(), public=True) -> Action:
    return Action(code, label, frozenset(sources), target, frozenset(roles), tuple(requires), public)


S = Status
ACTIONS: dict[str, Action] = {a.code: a for a in [
    _action("answer", ("当场答复", "Answer on the spot"), [S.REGISTERED], S.ANSWERED, HOTLINE_ROLES, ["reply"]),
    _action("dispatch", ("派单", "Dispatch"), [S.REGISTERED, S.RETURNED], S.DISPATCHED, HOTLINE_ROLES,
            ["department"]),
    _action("accept", ("签收", "Sign for"), [S.DISPATCHED], S.ACCEPTED, DEPARTMENT_ROLES),
    _action("start", ("开始办理", "Start work"), [S.ACCEPTED], S.IN_PROGRESS, DEPARTMENT_ROLES),
    # 退回 and 延期 are the hotline centre's decisions on a department's request (decide_request in
    # cases/store.py): a department asks (request_return / request_extend) once it has signed for
    # the case, and a supervisor approves or refuses; only an approval changes the case
    _action("return", ("退回", "Return"), [S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS], S.RETURNED,
            CENTRE_ROLES, ["comment"], public=False),
    _action("extend", ("延期", "Extend deadline"), [S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS], None,
            CENTRE_ROLES, ["deadline", "comment"]),
    _action("request_return", ("申请退回", "Ask to return"), [S.ACCEPTED, S.IN_PROGRESS], None,
            {Role.DEPARTMENT}, ["comment"], public=False),
    _action("request_extend", ("申请延期", "Ask for more time"), [S.ACCEPTED, S.IN_PROGRESS], None,
            {Role.DEPARTMENT}, ["deadline", "comment"], public=False),
    _action("refuse_request", ("不同意申请", "Refuse the request"), set(Status), None, CENTRE_ROLES,
            ["comment"], public=False),
    _action("reply", ("办结答复", "Reply"), [S.ACCEPTED, S.IN_PROGRESS], S.REPLIED, DEPARTMENT_ROLES, ["reply"]),
    _action("send_back", ("退回重办", "Send reply back"), [S.REPLIED], S.IN_PROGRESS, HOTLINE_ROLES,
            ["comment"], public=False),
    _action("follow_up", ("回访", "Follow up"), [S.REPLIED, S.ANSWERED], S.FOLLOWED_UP, HOTLINE_ROLES,
            ["satisfaction"]),
    _action("follow_up_unreached", ("回访未接通", "Follow-up: not reached"), [S.REPLIED, S.ANSWERED], None,
            HOTLINE_ROLES, public=False),
    _action("reopen", ("重办", "Reopen"), [S.REPLIED, S.FOLLOWED_UP, S.ANSWERED], S.DISPATCHED, HOTLINE_ROLES,
            ["department", "comment"]),
    _action("close", ("归档", "Archive"), [S.REPLIED, S.FOLLOWED_UP, S.ANSWERED], S.CLOSED, HOTLINE_ROLES),
    # merged into another case about the same matter (the master, named in the event): an agent's
    # or supervisor's decision on the case page (cases/case_links.py), never a department's
    _action("merge", ("合并", "Merge"), OPEN_STATUSES, S.MERGED, HOTLINE_ROLES),
    _action("remind", ("催办", "Remind"), OPEN_STATUSES, None, HOTLINE_ROLES | {Role.SUPERVISOR}, public=False),
    _action("note", ("备注", "Internal note"), set(Status), None,
            HOTLINE_ROLES | DEPARTMENT_ROLES, ["comment"], public=False),
]}


class IllegalTransition(ValueError):
    """An action that the case's current state does not allow; the message names both states."""

    def __init__(self, action: str, current: Status):
        self.action = action
        self.current = Status(current)
        act = ACTIONS.get(action)
        if act is None:
            super().__init__(f"unknown action {action!r}")
            return
        target = act.target.value if act.target else self.current.value
        allowed = ", ".join(sorted(s.value for s in act.sources))
        super().__init__(
            f"cannot {action} a case in state {self.current.value!r} "
            f"(to {target!r}); {action} is allowed from: {allowed}")


def transition(action: str, current: Status | str) -> Status:
    """The state after `action`, or IllegalTransition naming the current and the target state."""
    current = Status(current)
    act = ACTIONS.get(action)
    if act is None or current not in act.sources:
        raise IllegalTransition(action, current)
    return act.target or current


def allowed_actions(current: Status | str, role: Role | str) -> list[Action]:
    current, role = Status(current), Role(role)
    return [a for a in ACTIONS.values() if current in a.sources and role in a.roles]


def label(mapping: dict, key, locale: str = "zh") -> str:
    """The Chinese (default) or English label of a vocabulary code."""
    try:
        zh, en = mapping[type(next(iter(mapping)))(key)] if not isinstance(key, int) else mapping[key]
    except (KeyError, ValueError):
        return str(key)
    return en if locale == "en" else zh
