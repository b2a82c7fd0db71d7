"""The email channel against real servers on loopback: Debian's dovecot as the hotline's mailbox
(mails delivered by IMAP APPEND and by dovecot's LDA), an aiosmtpd server as the citizens' side
receiving what the gateway sends, and the gateway's own aiosmtpd receiver for direct SMTP."""
from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from cases.mailbox import MailLedger
from cases.models import Case, MailMessage
from cases.store import Actor
from cases.workflow import Role
from channels.email import MailChannel
from hotline.settings import Settings
from conftest import need
from mail_servers import Dovecot, SmtpSink, dovecot_available, free_port

HOTLINE = "12345@hotline.example.cn"
KEYWORD = "$Hotline12345"
_users = itertools.count()
AGENT = Actor("user:agent1", None, Role.AGENT)


@pytest.fixture(scope="module")
def dovecot():
    if not dovecot_available():
        need("dovecot is not installed (make system-deps installs Debian's dovecot-imapd)")
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
async def sink():
    server = await SmtpSink().start()
    yield server
    await server.close()


@pytest.fixture
def mailbox_user() -> str:
    return f"hotline{next(_users)}x{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def channel_factory(services_factory, db_url, dovecot, sink, mailbox_user):
    channels: list[MailChannel] = []

    async def make(**overrides) -> MailChannel:
        values = dict(imap_url=dovecot.url(mailbox_user), smtp_url=sink.url, mail_from=HOTLINE, mail_poll_s=1.0,
                      mail_notify_poll_s=0.3, mail_claim_lease_s=1.0)
        values.update(overrides)
        services = await services_factory(db_url, **values)
        channel = MailChannel(services)
        channels.append(channel)
        return channel

    yield make
    for ch in channels:
        await ch.stop()


def mail(subject: str, body: str, *, charset: str = "utf-8", sender: str = "citizen@example.cn",
         name: str = "张三", html: bool = False, files: list[tuple[str, bytes, str]] = (),
         headers: dict | None = None, message_id: str | None = None) -> tuple[bytes, str]:
    """A mail as a citizen's program would write it; returns (bytes, Message-ID)."""
    text = MIMEText(body, "html" if html else "plain", charset)
    if files:
        msg = MIMEMultipart()
        msg.attach(text)
        for filename, data, subtype in files:
            part = MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
            msg.attach(part)
    else:
        msg = text
    msg["Subject"] = Header(subject, charset)
    msg["From"] = formataddr((str(Header(name, charset)), sender)) if charset == "utf-8" else \
        f"{Header(name, charset).encode()} <{sender}>"
    msg["To"] = HOTLINE
    mid = message_id or make_msgid(domain="example.cn")
    msg["Message-ID"] = mid
    msg["Date"] = email.utils.formatdate(localtime=True)
    for key, value in (headers or {}).items():
        msg[key] = value
    return msg.as_bytes(), mid


async def run_until(channel: MailChannel, predicate, timeout: float = 60.0) -> None:
    """Run the channel until `predicate()` (an async check) holds."""
    if not channel._tasks:
        await channel.start()
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the mail channel")
        await asyncio.sleep(0.2)


async def count_cases(services) -> int:
    async with services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(Case))).scalar()


async def states(channel: MailChannel) -> dict[str, int]:
    return await channel.ledger.states()


def done_count(n: int):
    async def check(channel):
        st = await states(channel)
        return sum(v for k, v in st.items() if k != "processing") >= n
    return check


async def wait_processed(channel: MailChannel, n: int, timeout: float = 60.0) -> None:
    await run_until(channel, lambda: done_count(n)(channel), timeout)


async def wait_marked(dovecot, user: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (await dovecot.keywords(user, KEYWORD))[1] < n:
        assert time.monotonic() < deadline, await dovecot.keywords(user, KEYWORD)
        await asyncio.sleep(0.2)


async def case_for(services, message_id: str) -> Case:
    async with services.db.read() as s:
        row = (await s.execute(select(MailMessage).where(MailMessage.message_id == message_id))).scalar_one()
    async with services.db.read() as s:
        return await s.get(Case, row.case_id)


async def file_by_mail(channel, dovecot, user: str, sink, subject: str, body: str, sender: str, name: str):
    """A citizen's first mail delivered and acknowledged: (the acknowledgement, the case, Message-ID)."""
    raw, mid = mail(subject, body, sender=sender, name=name)
    await dovecot.append(user, raw)
    await wait_processed(channel, 1)
    await sink.wait_for(lambda: len(sink.to(sender)) == 1)
    return sink.to(sender)[0].message, await case_for(channel.services, mid), mid


# ---- charsets, HTML, attachments ---------------------------------------------------------------
CHARSET_MAILS = [
    ("utf-8", "投诉：小区楼下烧烤油烟", "我家楼下的烧烤店每天晚上油烟很大，呛得睡不着觉，请管一管。"),
    ("gb2312", "反映噪音扰民问题", "工地晚上十一点以后还在施工，噪音很大，影响休息。"),
    ("gbk", "咨询公积金提取", "请问租房提取住房公积金需要什么材料？我叫王镕，谢谢。"),
    ("gb18030", "道路破损需要维修", "人民路和解放路路口的路面塌陷，有个大坑，很危险𠀀。"),
    ("big5", "投訴：垃圾沒有清運", "我們社區的垃圾已經三天沒有清運了，味道很大。"),
]


async def test_mails_in_every_charset_html_and_attachments_become_cases(channel_factory, dovecot, mailbox_user, sink):
    channel = await channel_factory()
    services = channel.services
    sent = []
    for charset, subject, body in CHARSET_MAILS:
        raw, mid = mail(subject, body, charset=charset, name="张三" if charset != "big5" else "張三",
                        sender=f"{charset}@example.cn")
        sent.append((raw, mid, subject, body))
    # an encoded-word subject in two charsets at once, and a raw 8-bit GBK header
    gbk_word = base64.b64encode("夜间".encode("gbk")).decode()
    utf8_word = base64.b64encode("扰民".encode("utf-8")).decode()
    raw_mixed = ("From: =?gb2312?B?wO7LxA==?= <mixed@example.cn>\r\nTo: " + HOTLINE + "\r\n"
                 f"Subject: =?GBK?B?{gbk_word}?= =?UTF-8?B?{utf8_word}?=\r\nMessage-ID: <mixed-1@example.cn>\r\n"
                 "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + \
        "夜里有人在广场上放很大声的音乐，希望有关部门管理。".encode("gbk")
    raw_html, mid_html = mail("城管执法投诉", "<html><head><style>p{color:red}</style></head><body>"
                              "<p>小贩占道经营，<b>堵塞</b>人行道。</p><ul><li>地点：中山路</li><li>时间：每天早上</li></ul>"
                              "<script>alert(1)</script></body></html>", html=True, sender="html@example.cn")
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    raw_files, mid_files = mail("举报违章建筑", "有人在楼顶加盖违章建筑，照片和材料见附件。", sender="files@example.cn",
                                files=[("现场照片.jpg", b"\xff\xd8\xff" + os.urandom(5000), "octet-stream"),
                                       ("材料.pdf", pdf, "pdf")])
    await dovecot.append(mailbox_user, *(r for r, *_ in sent), raw_mixed, raw_html)
    dovecot.deliver_lda(mailbox_user, raw_files)  # as the mail system delivers
    total = len(sent) + 3
    await wait_processed(channel, total)
    await sink.wait_for(lambda: len(sink.messages) >= total)

    assert await count_cases(services) == total
    for raw, mid, subject, body in sent:
        case = await case_for(services, mid)
        assert case.channel == "email" and case.status == "registered"
        assert body[:10] in case.description, (case.description, body)
        assert subject.split("：")[-1] in case.title
        assert case.contact_email.endswith("@example.cn") and case.contact_name in ("张三", "張三")
        atts = await services.store.attachments(case.id)
        assert [a.filename for a in atts] == ["original.eml"]
        kept = services.store.attachment_path(atts[0].sha256).read_bytes()
        assert kept.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")  # IMAP stores CRLF lines
    mixed = await case_for(services, "<mixed-1@example.cn>")
    assert mixed.title == "夜间扰民"
    assert mixed.contact_name == "李四" and "广场上放很大声的音乐" in mixed.description
    html_case = await case_for(services, mid_html)
    assert "小贩占道经营，堵塞人行道。" in html_case.description and "地点：中山路" in html_case.description
    assert "<" not in html_case.description and "alert" not in html_case.description and "color" not in html_case.description
    files_case = await case_for(services, mid_files)
    atts = {a.filename: a for a in await services.store.attachments(files_case.id)}
    assert set(atts) == {"original.eml", "现场照片.jpg", "材料.pdf"}
    assert services.store.attachment_path(atts["材料.pdf"].sha256).read_bytes() == pdf

    # each citizen got one acknowledgement, threaded, with the number in the subject and a password
    # that opens the case
    for raw, mid, subject, body in sent:
        case = await case_for(services, mid)
        acks = sink.to(case.contact_email)
        assert len(acks) == 1
        ack = acks[0].message
        assert ack["In-Reply-To"] == mid and mid in ack["References"]
        assert f"[12345-{case.number}]" in ack["Subject"]
        assert ack["Auto-Submitted"] == "auto-replied"
        text = ack.get_content()
        assert case.number in text and "受理编号" in text
        password = text.split("查询密码：")[1][:6]
        assert await services.store.lookup(case.number, password) is not None
    # every mail is marked at the server once its case is committed
    assert await dovecot.keywords(mailbox_user, KEYWORD) == (total, total)


# ---- threads, loops, spam, duplicates, malformed ---------------------------------------------------
async def test_reply_thread_status_auto_reply_spam_duplicate_and_malformed(channel_factory, dovecot, mailbox_user, sink):
    channel = await channel_factory()
    services = channel.services
    ack, case, mid = await file_by_mail(channel, dovecot, mailbox_user, sink, "投诉：噪音扰民",
                                        "隔壁酒吧每晚营业到凌晨三点，噪音扰民严重。", "li@example.cn", "李雷")

    # the citizen answers the acknowledgement (a Chinese mail program's quoting below the new words)
    reply, reply_mid = mail(f"回复：{ack['Subject']}", "补充一下：酒吧在幸福路18号。\n\n"
                            "------------------ 原始邮件 ------------------\n发件人: 12345\n> 您的来信已经受理",
                            sender="li@example.cn", name="李雷",
                            headers={"In-Reply-To": ack["Message-ID"], "References": f"{mid} {ack['Message-ID']}"})
    # someone else writes into the same thread
    stranger, stranger_mid = mail(f"Re: {ack['Subject']}", "我也住在附近，这个酒吧确实很吵。",
                                  sender="neighbour@example.cn", headers={"In-Reply-To": ack["Message-ID"]})
    # an out-of-office answer to our acknowledgement, a bounce, a mailing list
    auto, _ = mail("自动回复：您的来信已受理", "我正在休假，回来后回复您。", sender="li@example.cn",
                   headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ack["Message-ID"]})
    bounce, _ = mail("Undelivered Mail Returned to Sender", "This is the mail system.", sender="MAILER-DAEMON@example.cn")
    listmail, _ = mail("社区通讯第12期", "本期内容：……", sender="news@example.cn",
                       headers={"List-Id": "<news.example.cn>", "Precedence": "list"})
    # spam as judged by SpamAssassin in front of the mailbox
    spam, spam_mid = mail("投诉：发票代开", "代开各类发票，联系电话13800000000。", sender="spam@example.cn",
                          headers={"X-Spam-Flag": "YES", "X-Spam-Status": "Yes, score=12.3 required=5.0"})
    rspamd, _ = mail("咨询：中奖", "恭喜您中奖了，请点击链接领取。", sender="spam2@example.cn", headers={"X-Spam": "Yes"})
    # the same Message-ID delivered twice (a mail system retrying)
    dup, dup_mid = mail("建议：增加公交线路", "建议在新区增加一条公交线路，方便居民出行。", sender="dup@example.cn")
    # malformed MIME: a missing closing boundary, broken base64, an undeclared charset
    malformed = (b"From: broken@example.cn\r\nTo: " + HOTLINE.encode() + b"\r\nSubject: =?utf-8?B?5oqV6K+J?=\r\n"
                 b"Message-ID: <broken-1@example.cn>\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\n"
                 b"Content-Type: text/plain\r\n\r\n" + "小区电梯经常坏，物业不修。".encode("gb18030") + b"\r\n--XYZ\r\n"
                 b"Content-Type: application/octet-stream; name=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 b"AAEC!!!AwQ=\r\n")
    # a status question from the case's own address, naming the number
    status_q, _ = mail("查询", f"你好，我的受理单{case.number}办理得怎么样了？", sender="li@example.cn")
    # and one from a stranger: told how to ask, not told anything about the case
    status_x, _ = mail("查询进度", f"受理单{case.number}办理进度怎么样？", sender="nosy@example.cn")

    before = len(sink.messages)
    await dovecot.append(mailbox_user, reply, stranger, auto, bounce, listmail, spam, rspamd, dup, malformed,
                         status_q, status_x)
    dovecot.deliver_lda(mailbox_user, dup)
    await wait_processed(channel, 12)  # the second delivery of the duplicate makes no row of its own
    await wait_marked(dovecot, mailbox_user, 13)
    await sink.wait_for(lambda: len(sink.messages) >= before + 4)
    await asyncio.sleep(1.0)  # nothing else may follow

    st = await states(channel)
    assert st == {"case": 3, "event": 1, "held": 3, "ignored": 3, "status": 2}, st
    assert await count_cases(services) == 3  # the first mail, the suggestion once, the malformed one
    events = await services.store.events(case.id)
    reply_events = [e for e in events if e.action == "citizen_mail"]
    assert len(reply_events) == 1 and reply_events[0].comment == "补充一下：酒吧在幸福路18号。"
    held = await channel.ledger.held(states=("held",))
    assert sorted(h.reason for h in held) == ["foreign_reply", "spam", "spam"]
    # what was not answered stays listed for agents, who may release it
    assert sorted((h["state"], h["reason"]) for h in await channel.held()) == [
        ("held", "foreign_reply"), ("held", "spam"), ("held", "spam"),
        ("ignored", "auto_reply"), ("ignored", "bounce"), ("ignored", "list")]
    dup_case = await case_for(services, dup_mid)
    assert dup_case.kind == "suggestion"
    broken = await case_for(services, "<broken-1@example.cn>")
    assert "电梯经常坏" in broken.description
    # answers: acknowledgements for the new cases, the status to li, the how-to-ask to the stranger;
    # none to the auto-reply, the bounce, the list, the spam or the stranger's reply
    new_mail = sink.messages[before:]
    recipients = sorted(r for m in new_mail for r in m.recipients)
    assert recipients == ["broken@example.cn", "dup@example.cn", "li@example.cn", "nosy@example.cn"], recipients
    status_answer = [m for m in new_mail if "li@example.cn" in m.recipients][0].message.get_content()
    assert case.number in status_answer and "已登记" in status_answer
    nosy = [m for m in new_mail if "nosy@example.cn" in m.recipients][0].message.get_content()
    assert case.number not in nosy and "噪音" not in nosy
    assert await dovecot.keywords(mailbox_user, KEYWORD) == (13, 13)

    # an agent releases the spam-held mail: it becomes a case after all; the stranger's reply an event
    spam_row = next(h for h in held if h.message_id == spam_mid)
    outcome = await channel.release(spam_row.id, "user:agent1")
    assert outcome.state == "case"
    stranger_row = next(h for h in held if h.reason == "foreign_reply")
    outcome = await channel.release(stranger_row.id, "user:agent1")
    assert outcome.state == "event" and outcome.case_id == case.id
    assert [e.actor for e in await services.store.events(case.id) if e.action == "third_party_mail"] == ["user:agent1"]
    with pytest.raises(LookupError):
        await channel.release(spam_row.id, "user:agent1")  # once only
    assert await count_cases(services) == 4


# ---- who may learn what ------------------------------------------------------------------------------
async def test_case_details_go_only_to_the_cases_own_address_never_to_a_forged_reply_to(channel_factory, dovecot,
                                                                                       mailbox_user, sink):
    """From can be forged; Reply-To is the forger's own. A case's status, title and the citizen's name
    go to the address on the case, or to a sender who gives the password: never to Reply-To."""
    channel = await channel_factory()
    # a citizen files by mail with a Reply-To of another address: the case's contact is From
    first, first_mid = mail("反映：垃圾站异味", "小区门口垃圾站夏天异味很大，希望加盖。", sender="wang@example.cn",
                            name="王芳", headers={"Reply-To": "wang.other@example.cn"})
    await dovecot.append(mailbox_user, first)
    await wait_processed(channel, 1)
    await sink.wait_for(lambda: len(sink.to("wang@example.cn")) == 1)
    case = await case_for(channel.services, first_mid)
    assert case.contact_email == "wang@example.cn" and not sink.to("wang.other@example.cn")
    ack = sink.to("wang@example.cn")[0].message
    password = next(line for line in ack.get_content().splitlines() if "密码" in line).split("：")[-1].strip()

    attacker = "attacker@evil.example"
    forged = [  # From the citizen's own address, answers asked to the attacker
        mail("查询", f"我的受理单{case.number}办理得怎么样了？", sender="wang@example.cn", name="王芳",
             headers={"Reply-To": attacker})[0],
        mail(f"回复：{ack['Subject']}", "请问现在办到哪一步了？进度怎么样？", sender="wang@example.cn",
             headers={"Reply-To": attacker, "In-Reply-To": ack["Message-ID"]})[0],
        # the citizen's address only as the display name
        mail("查询进度", f"受理单{case.number}办理进度怎么样？", sender=attacker, name="wang@example.cn")[0],
        # a Reply-To list naming both
        mail("查询", f"你好，我的受理单{case.number}办理得怎么样了？", sender="wang@example.cn",
             headers={"Reply-To": f"wang@example.cn, {attacker}"})[0],
    ]
    before = len(sink.messages)
    await dovecot.append(mailbox_user, *forged)
    await wait_processed(channel, 1 + len(forged))
    await sink.wait_for(lambda: len(sink.messages) >= before + len(forged))
    await asyncio.sleep(1.0)
    for received in sink.messages[before:]:
        text = received.message.get_content() + str(received.message["Subject"])
        if attacker in received.recipients:
            assert case.number not in text and "垃圾站" not in text and "王芳" not in text, text
        else:
            assert received.recipients == ["wang@example.cn"], received.recipients
    assert any(attacker in r.recipients for r in sink.messages[before:])  # told how to ask, nothing more
    told_citizen = [r for r in sink.messages[before:] if r.recipients == ["wang@example.cn"]]
    assert told_citizen and all(case.number in r.message.get_content() for r in told_citizen)

    # whoever gives the password may read the case, at the address they wrote from
    with_pw, _ = mail("查询", f"受理单{case.number}，密码{password}，请告知进度。", sender="friend@example.cn")
    before = len(sink.messages)
    await dovecot.append(mailbox_user, with_pw)
    await sink.wait_for(lambda: len(sink.to("friend@example.cn")) == 1)
    assert case.number in sink.to("friend@example.cn")[0].message.get_content()


# ---- notices when the case moves on --------------------------------------------------------------
async def test_citizen_is_told_of_reply_and_archive_and_department_of_dispatch(channel_factory, dovecot, mailbox_user,
                                                                               sink):
    channel = await channel_factory()
    services = channel.services
    from sqlalchemy import update
    from cases.models import Department
    async with services.db.write() as s:
        await s.execute(update(Department).where(Department.code == "zjj").values(email="zjj@gov.example.cn"))
    ack, case, mid = await file_by_mail(channel, dovecot, mailbox_user, sink, "反映小区停车问题",
                                        "小区里乱停车严重，消防通道被堵。", "han@example.cn", "韩梅梅")
    store = services.store
    await store.apply(case.number, "dispatch", AGENT, department_code="zjj")
    await sink.wait_for(lambda: len(sink.to("zjj@gov.example.cn")) == 1)
    dept_mail = sink.to("zjj@gov.example.cn")[0].message
    assert case.number in dept_mail["Subject"] and "消防通道" in dept_mail.get_content()
    case = await store.get(case.number)
    dept = Actor("user:dept1", None, Role.DEPARTMENT, case.department_id)
    await store.apply(case.number, "accept", dept)
    await store.apply(case.number, "reply", dept, reply="已联系物业清理消防通道，并增设禁停标识。")
    await sink.wait_for(lambda: len(sink.to("han@example.cn")) == 2)
    notice = sink.to("han@example.cn")[1].message
    assert "已增设禁停标识" in notice.get_content() or "禁停标识" in notice.get_content()
    assert f"[12345-{case.number}]" in notice["Subject"] and "已办结" in notice["Subject"]
    assert notice["In-Reply-To"] == ack["Message-ID"] and mid in notice["References"]
    await store.apply(case.number, "close", AGENT)
    await sink.wait_for(lambda: len(sink.to("han@example.cn")) == 3)
    assert "归档" in sink.to("han@example.cn")[2].message.get_content()
    await asyncio.sleep(1.0)
    assert len(sink.to("han@example.cn")) == 3  # each event mailed once


# ---- the gateway receiving SMTP itself ---------------------------------------------------------------
async def test_smtp_receiver_takes_mail_once_and_refuses_oversize(services_factory, db_url, sink):
    port = free_port()
    services = await services_factory(db_url, smtp_url=sink.url, mail_from=HOTLINE, smtpd_port=port,
                                      mail_max_bytes=200_000, mail_notify_poll_s=0.3)
    channel = await MailChannel(services).start()
    try:
        raw, mid = mail("投诉：夜间施工", "地铁工地夜间施工噪音很大，已经持续一周。", sender="smtp@example.cn")
        for _ in range(2):  # a retrying sender delivers it twice
            await aiosmtplib.send(raw, sender="smtp@example.cn", recipients=[HOTLINE], hostname="127.0.0.1",
                                  port=port, start_tls=False)
        big, _ = mail("大附件", "见附件。", sender="big@example.cn", files=[("big.bin", os.urandom(300_000), "octet-stream")])
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await aiosmtplib.send(big, sender="big@example.cn", recipients=[HOTLINE], hostname="127.0.0.1",
                                  port=port, start_tls=False)
        assert refused.value.code == 552
        assert await count_cases(services) == 1
        await sink.wait_for(lambda: len(sink.to("smtp@example.cn")) == 1)
        await asyncio.sleep(0.5)
        assert len(sink.to("smtp@example.cn")) == 1
    finally:
        await channel.stop()


async def test_mail_over_the_size_limit_makes_a_case_that_says_so(channel_factory, dovecot, mailbox_user, sink):
    channel = await channel_factory(mail_max_bytes=100_000, attachment_max_bytes=50_000)
    services = channel.services
    huge, huge_mid = mail("投诉：材料很多", "详见附件。", sender="huge@example.cn",
                          files=[("扫描件.pdf", os.urandom(150_000), "pdf")])
    mid_size, mid_mid = mail("投诉：附件略大", "照片见附件。", sender="mid@example.cn",
                             files=[("照片.jpg", os.urandom(60_000), "octet-stream"), ("小图.png", b"\x89PNG" + os.urandom(100), "octet-stream")])
    await dovecot.append(mailbox_user, huge, mid_size)
    await wait_processed(channel, 2)
    await sink.wait_for(lambda: len(sink.messages) == 2)
    case = await case_for(services, huge_mid)
    assert "超过了可收取的上限" in case.description
    assert await services.store.attachments(case.id) == []  # the original stays in the mailbox
    ack = sink.to("huge@example.cn")[0].message.get_content()
    assert "未能收取" in ack and case.number in ack
    case2 = await case_for(services, mid_mid)
    assert sorted(a.filename for a in await services.store.attachments(case2.id)) == ["小图.png"]  # .eml too big too
    assert "照片.jpg" in sink.to("mid@example.cn")[0].message.get_content()


# ---- a crash in the middle -------------------------------------------------------------------------------
GATEWAY = """
import asyncio, sys
from hotline.logs import setup_logging
from hotline.server import serve
from hotline.settings import load_settings
setup_logging("WARNING", False)
asyncio.run(serve(load_settings()))
"""


def _gateway(tmp_path: Path, db_url: str, imap_url: str, smtp_url: str) -> subprocess.Popen:
    env = dict(os.environ, HOTLINE_DB_URL=db_url, HOTLINE_DATA_DIR=str(tmp_path / "data"), HOTLINE_IMAP_URL=imap_url,
               HOTLINE_SMTP_URL=smtp_url, HOTLINE_MAIL_FROM=HOTLINE, HOTLINE_BOT_ENABLED="false",
               HOTLINE_HTTP_PORT=str(free_port()), HOTLINE_MAIL_POLL_S="1", HOTLINE_MAIL_CLAIM_LEASE_S="1",
               HOTLINE_CASE_KDF_TIME_COST="1", HOTLINE_LOG_JSON="false")
    env.pop("HOTLINE_CONFIG", None)
    log = open(tmp_path / "gateway.log", "ab")  # a file, not a pipe: a full pipe would stall it
    return subprocess.Popen([sys.executable, "-c", GATEWAY], env=env, cwd=Path(__file__).resolve().parent.parent,
                            stdout=log, stderr=log)


async def _stopped_mid_burst(services, db_url, dovecot, mailbox_user, sink, tmp_path, sig: int, n: int):
    """n mails into a gateway that `sig` stops once it is well into them (at least 8 cases and 3
    acknowledgements out), then a fresh gateway finishes: what the citizens and the database got."""
    mails = [mail(f"投诉：第{i}号问题", f"这是第{i}封测试来信，反映路灯不亮的问题。", sender=f"c{i}@example.cn")
             for i in range(n)]
    await dovecot.append(mailbox_user, *(raw for raw, _ in mails))
    gw = _gateway(tmp_path, db_url, dovecot.url(mailbox_user), sink.url)
    try:
        deadline = time.monotonic() + 180  # a slow machine: the model loads first
        while await count_cases(services) < 8 or len(sink.messages) < 3:  # well into the batch …
            assert gw.poll() is None, (tmp_path / "gateway.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the gateway made no cases"
            await asyncio.sleep(0.02)
        gw.send_signal(sig)  # … and stopped: SIGKILL without a chance to tidy up, SIGTERM politely
        code = await asyncio.get_running_loop().run_in_executor(None, gw.wait, 40)
        killed_at = await count_cases(services)
        unsent = await MailLedger(services.db).due(limit=n)
        assert killed_at < n or unsent, "the stop came too late to test anything"
        # what the stopped gateway began to send and did not finish (SIGTERM: the mail being sent is finished)
        interrupted = {r.recipient for r in await MailLedger(services.db).interrupted()}
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        gw = _gateway(tmp_path, db_url, dovecot.url(mailbox_user), sink.url)
        deadline = time.monotonic() + 90
        while True:
            st = await MailLedger(services.db).states()
            if st.get("case", 0) == n and not st.get("processing"):
                break
            assert gw.poll() is None, (tmp_path / "gateway.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, st
            await asyncio.sleep(0.3)
        await sink.wait_for(lambda: len({r for m in sink.messages for r in m.recipients} | interrupted) == n,
                            timeout=30)
        await asyncio.sleep(1.0)  # nothing more may follow
    finally:
        gw.terminate()  # waited for without blocking the loop: the SMTP sink runs on it
        assert await asyncio.get_running_loop().run_in_executor(None, gw.wait, 30) == 0
    async with services.db.read() as s:
        convs = (await s.execute(select(Case.conversation_id))).scalars().all()
    assert len(convs) == n and len(set(convs)) == n  # every mail one case, none twice
    assert await dovecot.keywords(mailbox_user, KEYWORD) == (n, n)
    return mails, interrupted


async def test_gateway_killed_mid_ingest_loses_and_doubles_nothing(services_factory, db_url, dovecot, mailbox_user,
                                                                   sink, tmp_path):
    services = await services_factory(db_url)  # migrated database with reference data
    # enough that the kill lands mid-batch on a fast machine too
    mails, interrupted = await _stopped_mid_burst(services, db_url, dovecot, mailbox_user, sink, tmp_path,
                                                  signal.SIGKILL, 120)
    assert len(interrupted) <= Settings().mail_send_lanes  # at most the one mail each lane was sending
    for raw, mid in mails:
        case = await case_for(services, mid)
        acks = sink.to(case.contact_email)
        # exactly one acknowledgement: never twice; none only for the one cut off mid-send
        assert len(acks) == 1 or (not acks and case.contact_email in interrupted), (mid, len(acks))
        if acks:  # its password opens the case (a replaced one when the first attempt died)
            text = acks[0].message.get_content()
            assert await services.store.lookup(case.number, text.split("查询密码：")[1][:6]) is not None


async def test_gateway_stopped_mid_burst_sends_each_acknowledgement_once(services_factory, db_url, dovecot,
                                                                         mailbox_user, sink, tmp_path):
    services = await services_factory(db_url)
    mails, interrupted = await _stopped_mid_burst(services, db_url, dovecot, mailbox_user, sink, tmp_path,
                                                  signal.SIGTERM, 80)
    assert interrupted == set()
    for raw, mid in mails:
        case = await case_for(services, mid)
        assert len(sink.to(case.contact_email)) == 1, mid


async def test_an_answer_is_queued_once_per_mail_and_kind(services):
    from cases.mailbox import Outgoing
    from cases.models import MailOutbox

    ledger = MailLedger(services.db)
    for attempt in range(2):  # a second finish of the same mail (a race, a replay) queues nothing more
        await ledger.claim(f"k{attempt}", message_id="<m@x.cn>", source="imap", sender="a@x.cn", subject="s", size=1)
        await ledger.finish(f"k{attempt}", "status", outgoing=[
            Outgoing("status", "a@x.cn", f"<out{attempt}@city.gov.cn>", "body", dedupe_key="k:status"),
            Outgoing("ack", "a@x.cn", f"<ack{attempt}@city.gov.cn>", "body", dedupe_key=f"k{attempt}:ack")])
    async with services.db.read() as s:
        rows = (await s.execute(select(MailOutbox.dedupe_key).order_by(MailOutbox.id))).scalars().all()
    assert rows == ["k:status", "k0:ack", "k1:ack"]


# ---- agents and held mail over the REST API -----------------------------------------------------------
async def test_agents_list_and_release_held_mail_over_the_api(channel_factory, dovecot, mailbox_user, sink):
    from aiohttp.test_utils import TestClient, TestServer

    from channels.email.web import setup_routes
    from hotline.web import create_app

    channel = await channel_factory()
    services = channel.services
    spam, spam_mid = mail("投诉：噪音", "楼上装修噪音太大，周末早上七点就开始。", sender="maybe@example.cn",
                          headers={"X-Spam-Flag": "YES"})
    await dovecot.append(mailbox_user, spam)
    await wait_processed(channel, 1)
    app = create_app(services)
    setup_routes(app, channel)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await services.accounts.create_user("agent9", "secret-pass-1", "agent")
        await services.accounts.create_user("dept9", "secret-pass-1", "department", department_code="zjj")
        tokens = {}
        for name in ("agent9", "dept9"):
            resp = await client.post("/api/auth/token", json={"username": name, "password": "secret-pass-1"})
            tokens[name] = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        assert (await client.get("/api/mail/held")).status == 401
        metrics = await (await client.get("/metrics")).text()
        assert 'hotline_mail_total{outcome="held"} 1.0' in metrics and "hotline_mailbox_connected 1.0" in metrics
        health = await (await client.get("/healthz")).json()
        assert health["mail"] == {"mailbox": True, "smtpd": None}
        assert (await client.get("/api/mail/held", headers=tokens["dept9"])).status == 403
        held = (await (await client.get("/api/mail/held?state=held", headers=tokens["agent9"])).json())["held"]
        assert [(h["sender"], h["state"], h["reason"]) for h in held] == [("maybe@example.cn", "held", "spam")]
        assert (await (await client.get("/api/mail/held?state=ignored", headers=tokens["agent9"])).json())["held"] == []
        bad = await client.get("/api/mail/held?state=<script>", headers=tokens["agent9"])
        assert bad.status == 400 and "state" in (await bad.json())["errors"]
        assert await count_cases(services) == 0 and sink.messages == []
        resp = await client.post(f"/api/mail/held/{held[0]['id']}/release", headers=tokens["agent9"])
        body = await resp.json()
        assert resp.status == 200 and body["state"] == "case"
        case = await case_for(services, spam_mid)
        assert case.number == body["case"]
        await sink.wait_for(lambda: len(sink.to("maybe@example.cn")) == 1)
        assert (await client.post(f"/api/mail/held/{held[0]['id']}/release", headers=tokens["agent9"])).status == 404
        assert (await (await client.get("/api/mail/held", headers=tokens["agent9"])).json())["held"] == []
        assert (await client.get("/api/mail/held?state=case", headers=tokens["agent9"])).status == 400
    finally:
        await client.close()


# ---- the bot reads the mail -------------------------------------------------------------------------
@pytest.mark.bot
async def test_the_bot_decides_the_kind_of_a_mail(engine, services, dovecot, mailbox_user, sink):
    from bot.classify import INTENT_KINDS
    from channels.email.understand import OPENING_CHARS

    s = services.settings
    s.imap_url, s.smtp_url, s.mail_from, s.mail_poll_s = dovecot.url(mailbox_user), sink.url, HOTLINE, 1.0
    channel = MailChannel(services)
    try:
        texts = [("小区门口的烧烤摊", "我要投诉小区门口的烧烤摊，每天晚上油烟很大，熏得家里没法开窗。"),
                 ("想问一下", "请问办理居住证需要带什么材料？在哪里办理？")]
        mids = []
        for subject, body in texts:
            raw, mid = mail(subject, body, sender=f"bot{len(mids)}@example.cn")
            mids.append(mid)
            await dovecot.append(mailbox_user, raw)
        await wait_processed(channel, len(texts))
        for (subject, body), mid in zip(texts, mids):
            case = await case_for(services, mid)
            register = (await services.store.events(case.id))[0]
            parsed = await engine.parse(f"{subject}\n{body}"[:OPENING_CHARS])
            intent = parsed["intent"]["name"]
            assert register.data["intent"] == intent  # the mail was read by the same NLU
            if intent in INTENT_KINDS:
                assert case.kind == INTENT_KINDS[intent]
            # the category and the classifier's confidence in it are kept, as the chat keeps them
            guess = await channel.categories.guess(f"{subject}\n{body}")
            assert case.category.code == guess.code
            assert case.category_confidence == pytest.approx(guess.confidence)
        assert {(await case_for(services, m)).kind for m in mids} == {"complaint", "consultation"}
    finally:
        await channel.stop()


# ---- IMAP over TLS: imaps://, STARTTLS, the site's CA ------------------------------------------------
@pytest.fixture(scope="module")
def tls_dovecot():
    if not dovecot_available():
        need("dovecot is not installed (make system-deps installs Debian's dovecot-imapd)")
    server = Dovecot(tls=True).start()  # a certificate signed by a CA made for this run
    yield server
    server.stop()


async def test_mailbox_read_over_imaps_and_starttls_with_the_sites_ca(services_factory, sqlite_url, tls_dovecot,
                                                                      dovecot, sink):
    import ssl

    from channels.email.imap import ImapError
    from hotline.settings import SettingsError

    for n, (imaps, query) in enumerate([(True, ""), (False, ""), (False, "?starttls=yes")]):
        user = f"tls{n}x{uuid.uuid4().hex[:6]}"
        services = await services_factory(sqlite_url, imap_url=tls_dovecot.url(user, imaps=imaps, query=query),
                                          mail_ca_file=str(tls_dovecot.ca_file), smtp_url=sink.url, mail_from=HOTLINE,
                                          mail_poll_s=1.0, mail_notify_poll_s=0.3)
        channel = MailChannel(services)
        try:
            raw, mid = mail("投诉：路灯不亮", f"幸福路的路灯坏了（第{n}封）。", sender=f"tls{n}@example.cn")
            await tls_dovecot.append(user, raw)
            await run_until(channel, lambda: done_count(n + 1)(channel), 30)  # one database for all three
            assert channel.reader.encrypted
            assert (await case_for(services, mid)).channel == "email"
        finally:
            await channel.stop()
        # the server saw the password only inside TLS
        logins = [line for line in tls_dovecot.log().splitlines() if f"Login: user=<{user}>" in line]
        assert logins and all(", TLS," in line for line in logins), logins
    await sink.wait_for(lambda: len({r for m in sink.messages for r in m.recipients}) == 3)

    # without the site's CA the self-signed certificate is not trusted: no connection
    services = await services_factory(sqlite_url, imap_url=tls_dovecot.url("nocax", imaps=True), smtp_url=sink.url,
                                      mail_from=HOTLINE)
    with pytest.raises(ssl.SSLCertVerificationError):
        await MailChannel(services).reader.connect()
    # STARTTLS required of a server that does not offer it: refused before the password is sent
    services = await services_factory(sqlite_url, imap_url=dovecot.url("plainx", query="?starttls=yes"),
                                      smtp_url=sink.url, mail_from=HOTLINE)
    with pytest.raises(ImapError, match="STARTTLS"):
        await MailChannel(services).reader.connect()
    assert "user=<plainx>" not in dovecot.log()
    # a CA file that is not there is a settings error that names the setting
    services = await services_factory(sqlite_url, imap_url=tls_dovecot.url("x"), mail_from=HOTLINE,
                                      mail_ca_file="/nonexistent/ca.pem")
    with pytest.raises(SettingsError, match="mail_ca_file"):
        MailChannel(services)


async def test_the_outbox_sends_on_several_connections_at_once_each_mail_once(services, sink):
    """A burst's acknowledgements leave while it is still coming in: mails go out on several SMTP
    connections at once (one connection, one mail at a time, fell behind on a busy event loop),
    and still each exactly once, marked sent."""
    from channels.email.outbox import OutboxSender
    from channels.email.urls import smtp_server
    from cases.models import MailOutbox
    peers = []
    handle = sink.handle_DATA

    async def noting_peer(server, session, envelope):
        peers.append(session.peer)
        return await handle(server, session, envelope)

    sink.handle_DATA = noting_peer
    async with services.db.write() as s:
        s.add_all([MailOutbox(purpose="ack", recipient=f"r{i}@example.cn", message_id=f"<m{i}@test>",
                              body=f"Subject: {i}\r\n\r\nbody {i}\r\n") for i in range(24)])
    sender = OutboxSender(MailLedger(services.db), smtp_server(sink.url, None), "12345@hotline.example", lanes=4)
    try:
        assert await sender.send_due() == 24
    finally:
        await sender.close()
    assert sorted(r for m in sink.messages for r in m.recipients) == sorted(f"r{i}@example.cn" for i in range(24))
    assert 2 <= len(set(peers)) <= 4  # several connections, no more than the lanes
    async with services.db.read() as s:
        rows = (await s.execute(select(MailOutbox))).scalars().all()
    assert all(r.sent_at is not None and r.sending_at is not None for r in rows)
    assert await MailLedger(services.db).due() == [] and await MailLedger(services.db).interrupted() == []
    with pytest.raises(ValueError):
        OutboxSender(MailLedger(services.db), None, "x@y", lanes=0)
