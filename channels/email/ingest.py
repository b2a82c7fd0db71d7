"""One incoming mail, from bytes to its outcome; the same for IMAP and SMTP.

  claim (by Message-ID; another mail under a Message-ID already taken is claimed as itself)
  -> screen (spam, failed authentication, implausible sender, too deep: hold; auto-reply, bounce,
     list, no-reply, our own: ignore; both stay listed for agents, who may release them)
  -> a reply on a case's thread?  from the case's address: an event (or a status answer);
                                  from anyone else: held for an agent
  -> a status question?           answered with the public status (only to the case's address)

Who may learn what: a case's details go only to the address on the case (and only when the mail
came From it), or to a sender who gives the case's password. Reply-To is never where the hotline
answers: anyone can write any From with their own Reply-To, so answering Reply-To would mail a
case to whoever forged its citizen's address. Every answer goes to From (or the case's address).
  -> otherwise a new case         kind and category by the bot, the .eml and files attached,
                                  an acknowledgement with number and password queued; or, when
                                  the server verified From (DMARC) and the sender has an open case
                                  about the same matter, a supplement of that case (an unverified
                                  one is filed apart and flagged for an agent: case_links)
  -> finish: outcome and outgoing mail in one transaction
Nothing is mailed to a sender `screen.may_answer` refuses (no-reply, daemons, our own addresses,
implausible addresses), even when an agent released the mail.

Only after `finish` may the reader mark the mail done at the server: a crash before it leaves the
mail unmarked, and the retry finds the case the first attempt committed (by its conversation id)
instead of making a second one.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from pathlib import Path
from dataclasses import dataclass, field

from cases import case_links
from cases.credentials import new_password
from cases.intake import InvalidInput, clean_text, is_phone, normalize_phone, validate_case
from cases.mailbox import CitizenEvent, KeptFile, MailLedger, Outgoing, mail_conversation_id, message_key
from cases.models import Case
from cases.similar import Probe
from cases.store import CITIZEN, CaseStore, NotFound
from cases.workflow import Channel
from hotline.i18n import translate
from hotline.logs import log_fields

from .compose import Composer, Thread, base_subject, human_size, token_number
from .mime import content_fingerprint
from .parse import ParsedMail, display_name, parse_mail
from .screen import may_answer, screen, sender_verified
from .understand import understand

log = logging.getLogger("hotline.email")

MAX_FILES = 30
# a subject that says "this is another matter" (after being told of an open case like it)
NEW_MATTER = re.compile(r"新诉求|另一件事|new matter", re.I)


@dataclass
class Outcome:
    state: str                      # case | event | status | held | ignored | duplicate | busy
    reason: str = ""
    case_number: str | None = None
    key: str = ""
    outgoing: list[Outgoing] = field(default_factory=list)
    case_id: int | None = None
    event: CitizenEvent | None = None
    files: list[KeptFile] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """May the reader mark the mail as taken at the server?"""
        return self.state != "busy"


def _mask(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


class MailIngest:
    def __init__(self, store: CaseStore, ledger: MailLedger, composer: Composer, *, engine_source,
                 categories, max_bytes: int, own_addresses: tuple[str, ...] = ()):
        self.store = store
        self.ledger = ledger
        self.composer = composer
        self.engine_source = engine_source   # a callable: the bot engine now (it may load later), or None
        self.categories = categories
        self.max_bytes = max_bytes
        self.own_addresses = {a.lower() for a in own_addresses if a}
        self.outcomes: Counter[str] = Counter()  # this process's mails by outcome (hotline_mail_total)

    # ---- the entry point ---------------------------------------------------------------------
    async def ingest(self, raw: bytes, *, source: str, truncated_size: int | None = None,
                     force: bool = False, unthreaded: bool = False) -> Outcome:
        """Process one mail. `truncated_size`: only the header was fetched because the mail is that
        big. `force`: an agent released a held mail, so the spam verdict no longer holds it.
        `unthreaded`: an agent chose to file it as a new case although it answers a case's thread."""
        mail = parse_mail(raw)
        key = message_key(mail.message_id, raw)
        raw_sha = hashlib.sha256(raw).hexdigest()
        claim = None
        if not force:
            key, claim = await self._claim(mail, key, raw, raw_sha, source, truncated_size or len(raw))
            if claim.status not in ("new", "retake"):
                state = "duplicate" if claim.status == "duplicate" else "busy"
                self.outcomes[state] += 1
                return Outcome(state, key=key, reason=claim.row.state)
        self._keep(raw)
        retake = claim is None or claim.status == "retake"
        outcome = await self._decide(mail, key, truncated_size, force, retake, unthreaded)
        if outcome.outgoing and not may_answer(mail, self.own_addresses):
            outcome.outgoing = []  # released by an agent, but still no address to answer
        for out in outcome.outgoing:
            out.dedupe_key = f"{key}:{out.purpose}"
        outcome.key = key
        await self.ledger.finish(key, outcome.state, reason=outcome.reason, raw_sha256=raw_sha,
                                 case_id=outcome.case_id, outgoing=outcome.outgoing, event=outcome.event,
                                 files=outcome.files)
        self.outcomes[outcome.state] += 1
        log.info("mail processed", extra=log_fields(state=outcome.state, reason=outcome.reason, source=source,
                                                    case=outcome.case_number, sender=_mask(mail.sender)))
        return outcome

    async def _claim(self, mail: ParsedMail, key: str, raw: bytes, raw_sha: str, source: str, size: int):
        """Claim the mail by its Message-ID; when that was taken by a mail with other content
        (relays and broken clients reuse Message-IDs), claim this one under its own key."""
        claim = await self.ledger.claim(key, message_id=mail.message_id, source=source, sender=mail.sender,
                                        subject=mail.subject, size=size)
        if claim.status == "duplicate" and not self._same_mail(claim.row.raw_sha256, raw, raw_sha):
            log.info("Message-ID reused by another mail; taken as its own", extra=log_fields(
                sender=_mask(mail.sender), source=source))
            key = hashlib.sha256(f"{key}:{raw_sha}".encode()).hexdigest()
            claim = await self.ledger.claim(key, message_id=mail.message_id, source=source, sender=mail.sender,
                                            subject=mail.subject, size=size)
        return key, claim

    def _same_mail(self, kept_sha: str | None, raw: bytes, raw_sha: str) -> bool:
        """Whether a mail is the one already taken under its Message-ID: the same bytes, or the same
        bytes but for the trace headers servers add on the way (a second delivery)."""
        if not kept_sha or kept_sha == raw_sha:
            return True
        try:
            kept = self.original(kept_sha)
        except OSError:
            return False
        return content_fingerprint(kept) == content_fingerprint(raw)

    def _keep(self, raw: bytes) -> str:
        """The original mail in the content-addressed attachment store (held mail is released from it)."""
        digest = hashlib.sha256(raw).hexdigest()
        path = self.store.attachment_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(raw)
            tmp.replace(path)
        return digest

    def original(self, sha256: str) -> bytes:
        return self.store.attachment_path(sha256).read_bytes()

    # ---- deciding ------------------------------------------------------------------------------
    async def _decide(self, mail: ParsedMail, key: str, truncated_size: int | None, force: bool,
                      retake: bool, unthreaded: bool = False) -> Outcome:
        verdict = screen(mail, self.own_addresses)
        if verdict.action != "accept" and not force:
            return Outcome("held" if verdict.action == "hold" else "ignored", verdict.reason)
        thread = Thread(mail.message_id, tuple(mail.references or mail.in_reply_to), mail.subject)
        case = None if unthreaded else await self._thread_case(mail)
        engine = self.engine_source()
        understood = await understand(mail.subject, mail.body, engine, self.categories)
        if case is not None:
            return await self._on_thread(mail, case, understood.asks_status, thread)
        if understood.asks_status and understood.case_numbers:
            return await self._status(mail, understood, thread)
        return await self._new_case(mail, key, understood, thread, truncated_size, retake)

    async def _thread_case(self, mail: ParsedMail) -> Case | None:
        number = token_number(mail.subject)
        if number:
            try:
                return await self.store.get(number)
            except NotFound:
                pass
        case_id = await self.ledger.case_for_thread(mail.in_reply_to + mail.references)
        if case_id is None:
            return None
        async with self.store.db.read() as s:
            case = await s.get(Case, case_id)
        return case

    async def _on_thread(self, mail: ParsedMail, case: Case, asks_status: bool, thread: Thread) -> Outcome:
        if not case.contact_email or mail.sender != case.contact_email.lower():
            return Outcome("held", "foreign_reply", case.number, case_id=case.id)
        if asks_status:  # to the address on the case, which the sender matched: never to Reply-To
            events = await self.store.events(case.id, public_only=True)
            return Outcome("status", "", case.number, case_id=case.id,
                           outgoing=[self.composer.status(case, events, case.contact_email, thread)])
        text = mail.body or mail.subject
        event = CitizenEvent(case.id, "citizen_mail", text[:5000],
                             {"message_id": mail.message_id, "subject": mail.subject,
                              "files": [f.filename for f in mail.files]})
        files, _ = await self._files(case.id, mail)  # a reply's files belong to the case too
        return Outcome("event", "citizen_reply", case.number, case_id=case.id, event=event, files=files)

    async def _status(self, mail: ParsedMail, understood, thread: Thread) -> Outcome:
        number = understood.case_numbers[0]
        case, to = None, mail.sender
        if understood.password:  # whoever holds the password may read the case: answer the sender
            case = await self.store.lookup(number, understood.password)
        if case is None:
            try:
                candidate = await self.store.get(number)
            except NotFound:
                candidate = None
            if candidate is not None and candidate.contact_email and candidate.contact_email.lower() == mail.sender:
                case, to = candidate, candidate.contact_email  # the address on the case, reached directly
        if case is None or not to:  # the same answer for an unknown number and a stranger's question
            return Outcome("status", "unverified", outgoing=[self.composer.status_unverified(mail.sender, thread)])
        events = await self.store.events(case.id, public_only=True)
        return Outcome("status", "", case.number, case_id=case.id,
                       outgoing=[self.composer.status(case, events, to, thread)])

    async def _new_case(self, mail: ParsedMail, key: str, understood, thread: Thread,
                        truncated_size: int | None, retake: bool) -> Outcome:
        locale = "zh"
        notes: list[str] = []
        description = mail.body.strip() or base_subject(mail.subject)
        if truncated_size:
            notes.append(translate(locale, "email.too_large", size=human_size(truncated_size),
                                   max=human_size(self.max_bytes)))
            description = f"{description}\n\n（{notes[-1]}）" if description else notes[-1]
        phone = normalize_phone(understood.phone)
        data = {"kind": understood.kind, "category": understood.category,
                "category_confidence": understood.category_confidence,
                "title": base_subject(mail.subject)[:100], "description": description[:5000],
                "location": understood.location[:300],
                "contact_name": mail.sender_name or display_name(understood.name),  # both fit for a greeting
                "contact_phone": phone if phone and is_phone(phone) else "",
                "contact_email": mail.sender, "wants_reply": True, "conversation_id": mail_conversation_id(key)}
        try:
            inp = validate_case(data, channel=Channel.EMAIL, known_categories=await self.store.category_codes())
        except InvalidInput as exc:
            if "category" in exc.errors:
                data["category"] = data["category_confidence"] = None
                try:
                    inp = validate_case(data, channel=Channel.EMAIL)
                except InvalidInput as again:
                    return Outcome("held", "invalid:" + ",".join(sorted(again.errors)))
            else:
                return Outcome("held", "invalid:" + ",".join(sorted(exc.errors)))
        inp.extra = {"message_id": mail.message_id, "intent": understood.intent}
        if mail.reply_to and mail.reply_to != mail.sender:
            inp.extra["reply_to"] = mail.reply_to  # shown to agents; nothing is mailed there
        # only a mail taken over from a crashed attempt can already have its case
        case = await self.ledger.case_for_mail(key) if retake else None
        suspected = None  # the sender's likely duplicate, not proven theirs
        if case is None and not truncated_size and not NEW_MATTER.search(mail.subject):
            existing, suspected = await self._open_case_like(mail, inp)
            if existing is not None:
                return await self._onto_existing(mail, existing, inp, thread)
        if case is None:
            case, password = await self.store.create_case(inp, CITIZEN)
            new_pw = False
            if suspected is not None:  # filed apart, flagged for an agent (a retry finds the case: flagged once)
                await case_links.flag_suspected(self.store, case, suspected, channel=Channel.EMAIL.value)
        else:  # an earlier attempt committed the case and died before finishing: give a new password
            password = new_password()
            await self.ledger.replace_password(case.id, await self.store.hasher.hash(password))
            case = await self.store.get(case.number)
            new_pw = True
        files = []
        if not truncated_size:  # only the header was fetched: no original, no files to keep
            files, file_notes = await self._files(case.id, mail, fresh=not new_pw)
            notes += file_notes
        # the number and password go to the case's own address (From), like every later notice
        ack = self.composer.acknowledgement(case, password, case.contact_email or mail.sender, thread, notes,
                                            new_password=new_pw)
        return Outcome("case", "", case.number, case_id=case.id, outgoing=[ack], files=files)

    async def _open_case_like(self, mail: ParsedMail, inp) -> tuple[Case | None, Case | None]:
        """The sender's open case about the same matter, and failing that the likely duplicate by
        the phone or address given that is not proven theirs (or None, None).
        The mail goes onto the first: found by the address it came From, which the mail server
        verified (`sender_verified`): anyone can write a neighbour's address in From, or their
        phone in the words, and their words would become the neighbour's. The second is flagged
        beside the case filed apart; the acknowledgement is then the one of any new case and says
        nothing of the other (every answer goes only to From anyway)."""
        matches = await self.store.similar.likely_duplicates(Probe.of_input(inp))
        verified = sender_verified(mail)
        owned = next((m.case for m in matches
                      if verified and (m.case.contact_email or "").lower() == mail.sender), None)
        return owned, (None if owned is not None or not matches else matches[0].case)

    async def _onto_existing(self, mail: ParsedMail, case: Case, inp, thread: Thread) -> Outcome:
        """A new mail about a matter the sender already reported: its words and files go onto that
        case as the citizen's supplement, and the answer tells its number and how to have a case of
        its own instead (a new mail with 新诉求 in the subject)."""
        event = CitizenEvent(case.id, "supplement", case_links.intake_as_supplement(inp)[:5000],
                             {"intake": Channel.EMAIL.value, "message_id": mail.message_id, "subject": mail.subject},
                             public=True)
        files, _ = await self._files(case.id, mail)
        answer = self.composer.added_to_case(case, case.contact_email, thread)
        return Outcome("event", "open_case_like_it", case.number, case_id=case.id, event=event, files=files,
                       outgoing=[answer])

    async def _files(self, case_id: int, mail: ParsedMail, fresh: bool = False
                     ) -> tuple[list[KeptFile], list[str]]:
        """The original (.eml) and the files, written to the store now and listed with the case by
        `finish`; each once (a retry after a crash lists only what is missing). Also returns notes
        for the files that could not be kept. `fresh`: the case was made just now (nothing to read)."""
        have = set() if fresh else {a.sha256 for a in await self.store.attachments(case_id)}
        limit = self.store.attachment_max_bytes
        notes = []
        wanted = [("email", "original.eml", "message/rfc822", mail.raw)]
        wanted += [("upload", f.filename, f.content_type, f.data) for f in mail.files[:MAX_FILES]]
        notes += [translate("zh", "email.file_skipped", name=f.filename, max=f"{MAX_FILES}")
                  for f in mail.files[MAX_FILES:]]
        kept = []
        for kind, filename, ctype, data in wanted:
            if len(data) > limit:
                notes.append(translate("zh", "email.file_skipped", name=filename, max=human_size(limit)))
                continue
            digest = self._keep(data)
            if digest in have:
                continue
            have.add(digest)
            safe_name = clean_text(Path(filename or "file").name)[:200] or "file"
            kept.append(KeptFile(kind, safe_name, ctype[:100], len(data), digest))
        return kept, notes
