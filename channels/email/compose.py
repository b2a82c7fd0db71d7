"""The mails the hotline writes: acknowledgement, status, reply and archive notices, department
notices. Each is threaded (In-Reply-To, References) to the citizen's mail, carries the case token
`[12345-<number>]` in its subject, and is marked `Auto-Submitted` (RFC 3834) so that other
auto-responders do not answer it: no mail loops.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from cases.credentials import is_valid_case_number
from cases.mailbox import Outgoing
from cases.models import Case
from cases.public import public_view
from cases.workflow import KIND_LABELS, STATUS_LABELS, label
from hotline.i18n import translate
from cases.models import utcnow

TOKEN = re.compile(r"\[12345-(\d{13})\]")
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|回复|答复|转发|回覆|轉寄)\s*[:：]\s*)+", re.IGNORECASE)


def case_token(number: str) -> str:
    return f"[12345-{number}]"


def token_number(subject: str) -> str | None:
    """The case number in a subject's token, when it is a valid one."""
    for match in TOKEN.finditer(subject or ""):
        if is_valid_case_number(match.group(1)):
            return match.group(1)
    return None


def base_subject(subject: str) -> str:
    """A subject without Re:/回复: prefixes and without our token."""
    return " ".join(_REPLY_PREFIX.sub("", TOKEN.sub("", subject or "")).split())


def human_size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


@dataclass
class Thread:
    """What a new mail answers: its Message-ID and the chain before it."""
    message_id: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""


class Composer:
    def __init__(self, mail_from: str, base_url: str, timezone: str = "Asia/Shanghai"):
        self.mail_from = mail_from
        self.domain = mail_from.rpartition("@")[2] or "hotline.invalid"
        self.base_url = base_url.rstrip("/")
        self.tz = ZoneInfo(timezone)

    def new_message_id(self, number: str = "") -> str:
        return f"<{number + '.' if number else ''}{secrets.token_hex(8)}@{self.domain}>"

    def _local(self, ts) -> str:
        return ts.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if ts else "-"

    def build(self, *, to: str, subject: str, text: str, thread: Thread | None, purpose: str,
              case_id: int | None, locale: str = "zh", auto: str = "auto-replied") -> Outgoing:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = formataddr((translate(locale, "email.sender_name"), self.mail_from))
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(utcnow())
        message_id = self.new_message_id()
        msg["Message-ID"] = message_id
        if thread and thread.message_id:
            msg["In-Reply-To"] = thread.message_id
            refs = [r for r in thread.references if r != thread.message_id][-10:] + [thread.message_id]
            msg["References"] = " ".join(refs)
        msg["Auto-Submitted"] = auto
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(text, charset="utf-8")
        return Outgoing(purpose=purpose, recipient=to, message_id=message_id, body=msg.as_string(),
                        case_id=case_id)

    def _greeting(self, case: Case, locale: str) -> str:
        if case.contact_name and not case.anonymous:
            return translate(locale, "email.greeting", name=case.contact_name)
        return translate(locale, "email.greeting_anonymous")

    def _letter(self, case: Case, body: str, locale: str) -> str:
        return f"{self._greeting(case, locale)}\n\n{body}\n\n{translate(locale, 'email.footer')}\n"

    def subject(self, case: Case, thread: Thread | None, locale: str, extra: str = "") -> str:
        base = base_subject(thread.subject if thread else "") or base_subject(case.title) \
            or translate(locale, "email.default_subject")
        head = f"{extra}：" if extra else ""
        return f"Re: {head}{base} {case_token(case.number)}"

    def acknowledgement(self, case: Case, password: str, to: str, thread: Thread, notes: list[str],
                        new_password: bool = False) -> Outgoing:
        locale = case.locale or "zh"
        category = case.category.name if case.category is not None else translate(locale, "email.category_unknown")
        body = translate(locale, "email.ack", number=case.number, password=password,
                         kind=label(KIND_LABELS, case.kind, locale), category=category,
                         deadline=self._local(case.deadline), lookup_url=f"{self.base_url}/lookup")
        if new_password:
            notes = [translate(locale, "email.ack_new_password")] + list(notes)
        if notes:
            body += "\n\n" + "\n".join(notes)
        return self.build(to=to, subject=self.subject(case, thread, locale), text=self._letter(case, body, locale),
                          thread=thread, purpose="ack", case_id=case.id, locale=locale)

    def added_to_case(self, case: Case, to: str, thread: Thread) -> Outgoing:
        """The answer to a new mail that went onto the sender's open case about the same matter."""
        locale = case.locale or "zh"
        body = translate(locale, "email.added_to_case", number=case.number, date=self._local(case.created_at)[:10],
                         status=label(STATUS_LABELS, case.status, locale), lookup_url=f"{self.base_url}/lookup")
        return self.build(to=to, subject=self.subject(case, thread, locale, translate(locale, "email.added_subject")),
                          text=self._letter(case, body, locale), thread=thread, purpose="ack", case_id=case.id,
                          locale=locale)

    def status(self, case: Case, events, to: str, thread: Thread) -> Outgoing:
        locale = case.locale or "zh"
        view = public_view(case, events, locale, str(self.tz))
        body = translate(locale, "email.status", number=case.number, kind=view["kind_label"], title=case.title,
                         status=view["status_label"], created_at=view["created_at"], deadline=view["deadline"] or "-")
        if view["history"]:
            body += "\n\n" + translate(locale, "email.status_history") + "\n" + "\n".join(
                f"  {h['at']}  {h['label']}" for h in view["history"])
        if view["reply"]:
            body += "\n\n" + translate(locale, "email.status_reply", replied_at=view["replied_at"], reply=view["reply"])
        return self.build(to=to, subject=self.subject(case, thread, locale), text=self._letter(case, body, locale),
                          thread=thread, purpose="status", case_id=case.id, locale=locale)

    def status_unverified(self, to: str, thread: Thread, locale: str = "zh") -> Outgoing:
        body = translate(locale, "email.status_unverified", lookup_url=f"{self.base_url}/lookup")
        text = f"{translate(locale, 'email.greeting_anonymous')}\n\n{body}\n\n{translate(locale, 'email.footer')}\n"
        subject = f"Re: {base_subject(thread.subject) or translate(locale, 'email.default_subject')}"
        return self.build(to=to, subject=subject, text=text, thread=thread, purpose="status", case_id=None,
                          locale=locale)

    def citizen_notice(self, case: Case, action: str, thread: Thread) -> Outgoing:
        """Mail to a citizen who wrote by mail: the case was answered or archived."""
        locale = case.locale or "zh"
        key = "closed" if action == "close" else "replied"
        body = translate(locale, f"email.{key}", number=case.number, reply=case.reply or "")
        return self.build(to=case.contact_email, subject=self.subject(case, thread, locale,
                                                                      translate(locale, f"email.{key}_subject")),
                          text=self._letter(case, body, locale), thread=thread, purpose=key, case_id=case.id,
                          locale=locale, auto="auto-generated")

    def department_notice(self, case: Case, action: str, to: str, comment: str = "") -> Outgoing:
        locale = "zh"
        key = "remind" if action == "remind" else "dispatch"
        body = translate(locale, f"email.{key}", number=case.number, kind=label(KIND_LABELS, case.kind, locale),
                         title=case.title, description=case.description, deadline=self._local(case.deadline),
                         comment=comment)
        subject = f"{translate(locale, f'email.{key}_subject')}：{case.title} {case_token(case.number)}"
        text = f"{body}\n\n{self.base_url}/\n\n{translate(locale, 'email.sender_name')}\n"
        return self.build(to=to, subject=subject, text=text, thread=None, purpose=key, case_id=case.id,
                          locale=locale, auto="auto-generated")
