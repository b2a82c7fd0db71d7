"""The mail corpus (tests/mail_corpus/, written by its generate.py): 300 raw mails as Chinese mail
programs write them, broken ones included, each with what must become of it and the body decoded
independently of the parser. Checked three ways: parsed and screened (every mail), ingested into
a case database (every mail: outcome, stored description, greeting name, who gets an
acknowledgement, nothing without an outcome), and read from a real mailbox (a sample, dovecot).
"""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.classify import CategoryClassifier
from cases.knowledge import KnowledgeRepository
from cases.mailbox import MailLedger
from cases.models import Case, MailMessage, MailOutbox
from channels.email.compose import Composer, base_subject
from channels.email.ingest import MailIngest
from channels.email.parse import parse_mail
from channels.email.screen import screen
from mail_servers import SmtpSink
from test_email import dovecot, mailbox_user  # noqa: F401 (the mail server fixtures)

CORPUS = Path(__file__).parent / "mail_corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
HOTLINE = "12345@city.gov.cn"
STATES = {"accept": "case", "hold": "held", "ignore": "ignored"}


@pytest.fixture
async def sink():
    server = await SmtpSink().start()
    yield server
    await server.close()


def raw(entry: dict) -> bytes:
    return (CORPUS / "mails" / entry["file"]).read_bytes()


def test_the_corpus_is_large_and_covers_every_kind():
    kinds = Counter(e["kind"] for e in MANIFEST)
    assert len(MANIFEST) >= 200
    for kind in ("foxmail", "outlook", "qqmail", "netease163", "iphone", "android", "html_only", "reply",
                 "forward_attached", "empty_multipart", "wrong_boundary", "folded_subject", "base64_label_lies",
                 "raw_8bit_filename", "big5", "charset_lies", "deep_nesting", "bounce", "auto_reply", "list", "spam",
                 "no_reply", "own_mail", "auth_fail", "bad_sender", "display_name", "reused_message_id"):
        assert kinds[kind] >= 2, kind


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_each_mail_is_read_as_its_client_shows_it(entry):
    mail = parse_mail(raw(entry))
    verdict = screen(mail, {HOTLINE})
    assert (STATES[verdict.action], verdict.reason) == (entry["outcome"], entry["reason"])
    assert mail.sender == entry["sender"]
    assert base_subject(mail.subject) == base_subject(entry["subject"])
    if entry["body"] is not None:
        assert (mail.body.strip() or base_subject(mail.subject)) == entry["body"]
    if entry["outcome"] == "case":
        assert mail.sender_name == entry["name"]
    assert [f.filename for f in mail.files] == entry["files"]


async def test_every_mail_ends_with_an_outcome_its_body_stored_and_answers_only_to_real_senders(services):
    ledger = MailLedger(services.db)
    ingest = MailIngest(services.store, ledger, Composer(HOTLINE, "https://12345.city.gov.cn"),
                        engine_source=lambda: None,
                        categories=CategoryClassifier(KnowledgeRepository(services.db)), max_bytes=10_000_000,
                        own_addresses=(HOTLINE,))
    for entry in MANIFEST:
        await ingest.ingest(raw(entry), source="imap")
    for entry in MANIFEST[:20]:  # delivered again: nothing new
        assert (await ingest.ingest(raw(entry), source="imap")).state == "duplicate"
    async with services.db.read() as s:
        rows = list((await s.execute(select(MailMessage).order_by(MailMessage.id))).scalars())
        cases = {c.id: c for c in (await s.execute(select(Case))).scalars()}
        outbox = list((await s.execute(select(MailOutbox))).scalars())
    assert len(rows) == len(MANIFEST)  # one row each (reused Message-IDs included), none left processing
    for row, entry in zip(rows, MANIFEST):
        assert (row.state, row.reason, row.sender) == (entry["outcome"], entry["reason"], entry["sender"]), entry["file"]
        if entry["outcome"] == "case":
            case = cases[row.case_id]
            assert case.description == entry["body"], entry["file"]
            assert (case.contact_email, case.contact_name) == (entry["sender"], entry["name"]), entry["file"]
    assert Counter(r.state for r in rows) == Counter(e["outcome"] for e in MANIFEST)
    acknowledged = Counter(o.recipient for o in outbox if o.purpose == "ack")
    assert acknowledged == Counter(e["sender"] for e in MANIFEST if e["ack"])
    assert ingest.outcomes["duplicate"] == 20


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_sample_read_from_a_real_mailbox(services_factory, db_url, dovecot, sink, mailbox_user):
    from channels.email import MailChannel

    services = await services_factory(db_url, imap_url=dovecot.url(mailbox_user), smtp_url=sink.url,
                                      mail_from=HOTLINE, mail_poll_s=1.0, mail_notify_poll_s=0.3)
    channel = MailChannel(services)
    by_kind: dict[str, dict] = {}
    for entry in MANIFEST:
        by_kind.setdefault(entry["kind"], entry)
    sample = list(by_kind.values())
    await dovecot.append(mailbox_user, *[raw(e) for e in sample])
    await channel.start()
    try:
        for _ in range(600):
            counts = await channel.ledger.states()
            if sum(counts.get(s, 0) for s in ("case", "held", "ignored")) == len(sample):
                break
            await asyncio.sleep(0.1)
        async with services.db.read() as s:
            rows = {r.sender: r for r in (await s.execute(select(MailMessage))).scalars()}
            cases = {c.id: c for c in (await s.execute(select(Case))).scalars()}
        for entry in sample:
            row = rows[entry["sender"]]
            assert (row.state, row.reason) == (entry["outcome"], entry["reason"]), entry["file"]
            if entry["outcome"] == "case":
                assert cases[row.case_id].description == entry["body"], entry["file"]
        await sink.wait_for(lambda: len(sink.messages) >= sum(e["ack"] for e in sample))
        await asyncio.sleep(0.5)
        assert sorted(r for m in sink.messages for r in m.recipients) == sorted(e["sender"] for e in sample if e["ack"])
    finally:
        await channel.stop()
