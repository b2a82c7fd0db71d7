"""Mail that must not become a case or be answered: spam (as the filter in front judged it),
automatic replies, bounces and mailing-list mail. Answering any of these risks a mail loop.

Spam is not judged here: the mail system in front of the mailbox (SpamAssassin, rspamd) adds its
verdict as headers, and a mail so marked is held for an agent, never answered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .parse import ParsedMail

_AUTO_SUBJECT = re.compile(r"^\s*(自动回复|自動回覆|自动答复|auto(matic)?[- ]?reply|auto[- ]?response|"
                           r"out of (the )?office|无法投递|退信|undeliverable|undelivered mail|"
                           r"delivery status notification|mail delivery failed|returned mail)", re.IGNORECASE)
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|noreply-dmarc-support|bounce[s]?)([+\-.@]|$)",
                      re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    action: str   # "accept" | "hold" | "ignore"
    reason: str = ""


ACCEPT = Verdict("accept")


def spam_verdict(mail: ParsedMail) -> bool:
    """True when the filter in front marked the mail as spam (SpamAssassin or rspamd headers)."""
    if mail.header("X-Spam-Flag").strip().lower().startswith("yes"):
        return True
    if mail.header("X-Spam-Status").strip().lower().startswith("yes"):
        return True
    if mail.header("X-Spam").strip().lower() in ("yes", "true", "spam", "1"):
        return True
    return mail.header("X-Rspamd-Action").strip().lower() in ("reject", "add header", "rewrite subject")


def screen(mail: ParsedMail) -> Verdict:
    """What to do with a mail before reading it for a case."""
    if spam_verdict(mail):
        return Verdict("hold", "spam")
    ctype = mail.message.get_content_type() if mail.message is not None else ""
    report = mail.message.get_param("report-type") if mail.message is not None else None
    local = mail.sender.split("@", 1)[0] if mail.sender else ""
    return_path = mail.header("Return-Path").strip()
    if (ctype == "multipart/report" and str(report).lower() in ("delivery-status", "disposition-notification")) \
            or _DAEMONS.match(local) or return_path == "<>" or mail.header("X-Failed-Recipients"):
        return Verdict("ignore", "bounce")
    auto = mail.header("Auto-Submitted").strip().lower()
    if (auto and auto != "no") or mail.header("X-Autoreply") or mail.header("X-Autorespond") \
            or re.search(r"\b(oof|autoreply|all)\b", mail.header("X-Auto-Response-Suppress"), re.IGNORECASE) \
            or _AUTO_SUBJECT.match(mail.subject):
        return Verdict("ignore", "auto_reply")
    precedence = mail.header("Precedence").strip().lower()
    if precedence in ("bulk", "list", "junk") or mail.header("List-Id") or mail.header("List-Unsubscribe"):
        return Verdict("ignore", "list")
    if not mail.sender:
        return Verdict("hold", "no_sender")  # nobody to answer: an agent looks at it
    return ACCEPT
