"""Mail that must not become a case or be answered: spam (as the filter in front judged it), mail
whose sender failed authentication, automatic replies, bounces, mailing-list and no-reply mail,
our own mail come back, senders that cannot be real, nesting too deep to read. Answering any of
these risks backscatter (an acknowledgement to whoever a forger named) or a mail loop.

Spam is not judged here: the mail system in front of the mailbox (SpamAssassin, rspamd) adds its
verdict as headers, and its SPF/DKIM/DMARC results as the topmost `Authentication-Results`
(RFC 8601); a mail so marked is held for an agent, never answered. What is held or ignored stays
listed for agents, who may release it.
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


_NO_REPLY = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|noreply[-_.].*|.*[-_.]noreply)$",
                       re.IGNORECASE)
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_AUTH_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)


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


def plausible_address(address: str) -> bool:
    """A cheap sanity check of a sender: a usual local part (internationalized ones too, RFC 6531)
    and a domain name with a letter TLD, IDN allowed (no IP literal, no single-label host)."""
    local, at, domain = (address or "").rpartition("@")
    if not at or local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    if not (_LOCAL.match(local) or (not local.isascii() and local.isprintable() and len(local) <= 64
                                    and not any(c in local for c in ' "(),:;<>@[\\]'))):
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower() if not domain.isascii() else domain.lower()
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return len(labels) >= 2 and all(_LABEL.match(x) for x in labels) and len(ascii_domain) <= 253 \
        and (labels[-1].isalpha() or labels[-1].startswith("xn--"))


def is_no_reply(address: str) -> bool:
    return bool(_NO_REPLY.match((address or "").partition("@")[0]))


def _auth_results(mail: ParsedMail) -> dict[str, str]:
    """spf/dkim/dmarc → result, from the topmost Authentication-Results (the mail server's own)."""
    results: dict[str, str] = {}
    for method, result in _AUTH_RESULT.findall(mail.header("Authentication-Results")):
        results.setdefault(method.lower(), result.lower())
    return results


def sender_verified(mail: ParsedMail) -> bool:
    """The mail server verified From: DMARC passed (SPF or DKIM passed for the From domain itself).
    Without it From is only what the sender wrote, and proves no one's address."""
    return _auth_results(mail).get("dmarc") == "pass"


def authentication_failed(mail: ParsedMail) -> bool:
    """The mail server's own verdict (the topmost Authentication-Results) says From is forged:
    DMARC failed, or without a DMARC result SPF failed and DKIM did not pass."""
    results = _auth_results(mail)
    if results.get("dmarc") == "fail":
        return True
    return "dmarc" not in results and results.get("spf") == "fail" and results.get("dkim") != "pass"


def may_answer(mail: ParsedMail, own_addresses=()) -> bool:
    """Whether anything may be mailed to this sender at all (also for mail an agent released)."""
    sender = mail.sender
    return bool(sender) and sender not in own_addresses and plausible_address(sender) \
        and not is_no_reply(sender) and not _DAEMONS.match(sender.split("@", 1)[0])


def screen(mail: ParsedMail, own_addresses=()) -> Verdict:
    """What to do with a mail before reading it for a case."""
    if "too_deep" in mail.defects:
        return Verdict("hold", "too_deep")  # its parts are not read: an agent looks at the original
    if spam_verdict(mail):
        return Verdict("hold", "spam")
    if mail.sender and mail.sender in own_addresses:
        return Verdict("ignore", "own_mail")  # our own mail come back: never answer it
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
    if authentication_failed(mail):
        return Verdict("hold", "auth_fail")
    if is_no_reply(mail.sender):
        return Verdict("ignore", "no_reply")  # a machine's notice: nobody reads an answer
    if not plausible_address(mail.sender):
        return Verdict("hold", "bad_sender")
    return ACCEPT
