"""The email channel's parts on their own: server URLs, decoding, trimming, screening, threading
tokens and the IMAP FETCH reader. (tests/test_email.py runs them against real servers.)"""
from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace

import pytest

from cases.credentials import new_case_number
from cases.mailbox import message_key
from channels.email.compose import base_subject, token_number
from channels.email.imap import BATCH, ImapReader, parse_fetch
from channels.email.ingest import Outcome
from channels.email.parse import decode_bytes, decode_header_value, parse_mail
from channels.email.screen import screen
from channels.email.text import html_to_text, trim_reply
from channels.email.urls import imap_server, smtp_server
from hotline.settings import SettingsError


def test_server_urls_and_their_errors():
    imap = imap_server("imaps://hotline%40city.gov.cn:p%3Ass@mail.city.gov.cn/收件箱?verify=no")
    assert (imap.host, imap.port, imap.tls, imap.username, imap.password, imap.mailbox, imap.verify) == \
        ("mail.city.gov.cn", 993, True, "hotline@city.gov.cn", "p:ss", "收件箱", False)
    assert "p:ss" not in str(imap)
    smtp = smtp_server("smtp://relay:25?starttls=no")
    assert (smtp.port, smtp.tls, smtp.starttls) == (25, False, False)
    assert smtp_server("smtps://u:p@mx").port == 465
    assert smtp_server("smtp://mx").starttls is None  # STARTTLS when offered
    for bad, setting in [("http://x/INBOX", "imap_url"), ("imap:///INBOX", "imap_url"), ("imap://host/INBOX", "imap_url"),
                         ("imap://u:p@host:99999/", "imap_url")]:
        with pytest.raises(SettingsError, match=setting):
            imap_server(bad)
    with pytest.raises(SettingsError, match="starttls"):
        smtp_server("smtp://mx?starttls=maybe")


def test_decoding_falls_back_when_labels_lie():
    assert decode_bytes("镕".encode("gbk"), "gb2312") == "镕"          # GBK-only character labelled gb2312
    assert decode_bytes("你好".encode("utf-8"), "us-ascii") == "你好"   # UTF-8 labelled ASCII
    assert decode_bytes("臺灣".encode("big5"), "big5") == "臺灣"
    assert decode_bytes("中文".encode("gb18030"), None) == "中文"   # no label at all
    assert decode_bytes("𠀀".encode("gb18030"), "x-unknown-charset") == "𠀀"
    assert decode_header_value("=?GB2312?B?1tDOxA==?= =?utf-8?Q?=E6=B5=8B?=") == "中文测"
    assert decode_header_value("=?bogus?B?!!!?=") == "=?bogus?B?!!!?="  # unreadable: kept as it came


def test_parse_never_raises():
    for raw in [b"", b"\x00\xff\xfe", b"Subject: x\r\n", b"Content-Type: multipart/mixed\r\n\r\nno boundary",
                b"From: <<<>>>\r\nContent-Type: text/plain; charset=\"\r\n\r\nbody"]:
        mail = parse_mail(raw)
        assert isinstance(mail.body, str)


def test_trimming_quotes_and_signatures():
    assert trim_reply("新内容\n\n在 2026年11月28日 10:00，12345 写道：\n> 旧的") == "新内容"
    assert trim_reply("新内容\n------------------ 原始邮件 ------------------\n发件人: x") == "新内容"
    assert trim_reply("新内容\n\n发件人: 12345热线\n发送时间: 2026年11月28日\n主题: 受理") == "新内容"
    assert trim_reply("新内容\n-- \n张三\n电话 123") == "新内容"
    assert trim_reply("新内容\n\n发自我的iPhone") == "新内容"
    assert trim_reply("Thanks\nOn Mon, Nov 27 2026, 12345 wrote:\n> old") == "Thanks"
    assert trim_reply("发件人：张三说楼下很吵") == "发件人：张三说楼下很吵"  # no date line after it: kept
    assert trim_reply("> 只有引用") == "> 只有引用"  # nothing would remain: kept whole


def test_html_to_text_is_clean():
    text = html_to_text("<style>p{color:red}</style><h1>标题</h1><p>第一段<b>加粗</b></p><ul><li>甲</li></ul>"
                        "<table><tr><td>地点</td><td>中山路</td></tr></table><img src=x alt=图><a href='http://x'>链接</a>")
    assert "color" not in text and "#" not in text and "**" not in text and "http" not in text
    assert "标题" in text and "第一段加粗" in text and "甲" in text and "地点 中山路" in text


def _mail(headers: str, sender: str = "a@example.cn") -> bytes:
    return f"From: {sender}\r\nSubject: 投诉\r\n{headers}\r\n\r\n内容内容内容".encode()


@pytest.mark.parametrize("headers,sender,expected", [
    ("", "a@example.cn", ("accept", "")),
    ("X-Spam-Flag: YES", "a@example.cn", ("hold", "spam")),
    ("X-Spam-Status: Yes, score=9.1", "a@example.cn", ("hold", "spam")),
    ("X-Spam-Status: No, score=0.1", "a@example.cn", ("accept", "")),
    ("X-Spam: yes", "a@example.cn", ("hold", "spam")),
    ("X-Rspamd-Action: add header", "a@example.cn", ("hold", "spam")),
    ("Auto-Submitted: auto-replied", "a@example.cn", ("ignore", "auto_reply")),
    ("Auto-Submitted: no", "a@example.cn", ("accept", "")),
    ("X-Autoreply: yes", "a@example.cn", ("ignore", "auto_reply")),
    ("Precedence: bulk", "a@example.cn", ("ignore", "list")),
    ("List-Id: <x.example.cn>", "a@example.cn", ("ignore", "list")),
    ("", "MAILER-DAEMON@example.cn", ("ignore", "bounce")),
    ("Return-Path: <>", "a@example.cn", ("ignore", "bounce")),
    ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", "a@example.cn", ("ignore", "bounce")),
])
def test_screening(headers, sender, expected):
    verdict = screen(parse_mail(_mail(headers, sender)))
    assert (verdict.action, verdict.reason) == expected


def test_subject_tokens_and_message_keys():
    number = new_case_number(dt.date.today())
    assert token_number(f"回复：Re: 噪音 [12345-{number}]") == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)  # a mistyped check digit is no token
    assert token_number(f"[12345-{wrong}]") is None
    assert base_subject(f"回复: Re: FW: 噪音扰民 [12345-{number}]") == "噪音扰民"
    assert message_key("<Abc@Example.CN>", b"") == message_key("Abc@example.cn", b"x")
    assert message_key("", b"one") != message_key("", b"two")


def test_fetch_responses_either_order():
    dovecot = [b"1 FETCH (UID 7 RFC822.SIZE 12 BODY[] {12}", bytearray(b"Subject: a\r\n"), b")",
               b"2 FETCH (UID 9 BODY[] {3}", bytearray(b"xyz"), b")", b"Fetch completed"]
    assert parse_fetch(dovecot) == {7: {"size": 12, "data": b"Subject: a\r\n"}, 9: {"data": b"xyz"}}
    uid_last = [b"3 FETCH (BODY[] {2}", bytearray(b"ab"), b" UID 11)", b"done"]
    assert parse_fetch(uid_last) == {11: {"data": b"ab"}}


class _FakeImap:
    """Answers UID SEARCH / FETCH / STORE the way aioimaplib hands Dovecot's replies back."""

    def __init__(self, uids, fail_fetch_at: int | None = None):
        self.unmarked = set(uids)
        self.fetches = 0
        self.fail_fetch_at = fail_fetch_at

    @staticmethod
    def _ok(lines):
        return SimpleNamespace(result="OK", lines=[*lines, b"done"])

    async def uid_search(self, criteria, charset=None):
        return self._ok([" ".join(map(str, sorted(self.unmarked))).encode()])

    async def uid(self, command, uid_set, what):
        uids = [int(u) for u in uid_set.split(",")]
        if command == "store":
            self.unmarked -= set(uids)
            return self._ok([])
        self.fetches += 1
        if self.fetch_fails():
            raise ConnectionError("server went away")
        if "SIZE" in what:
            return self._ok([f"{u} FETCH (UID {u} RFC822.SIZE 5)".encode() for u in uids])
        lines = []
        for u in uids:
            lines += [f"{u} FETCH (UID {u} BODY[] {{5}}".encode(), bytearray(b"mail%d" % (u % 10)), b")"]
        return self._ok(lines)

    def fetch_fails(self) -> bool:
        return self.fail_fetch_at is not None and self.fetches >= self.fail_fetch_at


class _CountingIngest:
    def __init__(self):
        self.seen = []

    async def ingest(self, raw, *, source, truncated_size=None):
        await asyncio.sleep(0.001 * (len(self.seen) % 3))  # mails finish out of order
        self.seen.append(raw)
        return Outcome("case")


async def test_a_scan_works_through_many_batches_with_few_workers_and_marks_every_mail():
    uids = list(range(1, 3 * BATCH + 8))
    client, ingest = _FakeImap(uids), _CountingIngest()
    reader = ImapReader(None, ingest, keyword="$Done", poll_s=1, max_bytes=100, workers=3)
    reader.client = client
    assert await reader.scan() == len(uids)
    assert len(ingest.seen) == len(uids) and not client.unmarked
    assert await reader.scan() == 0


async def test_a_scan_whose_connection_fails_leaves_the_rest_unmarked_for_the_next_pass():
    uids = list(range(1, 3 * BATCH + 1))
    client, ingest = _FakeImap(uids, fail_fetch_at=4), _CountingIngest()  # the second batch's body
    reader = ImapReader(None, ingest, keyword="$Done", poll_s=1, max_bytes=100, workers=4)
    reader.client = client
    with pytest.raises(ConnectionError):
        await reader.scan()
    assert len(client.unmarked) >= 2 * BATCH  # only what was finished may have been marked
    client.fail_fetch_at = None
    left = len(client.unmarked)
    assert await reader.scan() == left and not client.unmarked


@pytest.mark.parametrize("address,plausible", [
    ("a@b.cn", True), ("张三@qq.com", True), ("user@例子.中国", True), ("a+tag@x.com.cn", True),
    ("user@localhost", False), ("u@[203.0.113.7]", False), ("u@1.2.3.4", False), ("a..b@x.cn", False),
    ("x@-bad-.cn", False), ("test@example", False), ("a b@x.cn", False), (".a@x.cn", False), ("", False),
])
def test_a_cheap_sanity_check_of_senders(address, plausible):
    from channels.email.screen import plausible_address

    assert plausible_address(address) is plausible


@pytest.mark.parametrize("results,failed", [
    ("mx.city.gov.cn; spf=pass; dkim=pass; dmarc=pass", False),
    ("mx.city.gov.cn; dmarc=fail (p=none) header.from=x.cn", True),
    ("mx.city.gov.cn; spf=fail smtp.mailfrom=x.cn; dkim=none", True),
    ("mx.city.gov.cn; spf=fail smtp.mailfrom=fwd.cn; dkim=pass header.d=x.cn", False),  # forwarded, signed
    ("mx.city.gov.cn; spf=fail; dkim=pass; dmarc=pass", False),
    ("mx.city.gov.cn; none", False),
])
def test_authentication_results_count_only_where_they_say_forged(results, failed):
    from channels.email.screen import authentication_failed

    assert authentication_failed(parse_mail(_mail(f"Authentication-Results: {results}"))) is failed


def test_display_names_are_cut_before_addresses_and_headers():
    from channels.email.parse import display_name

    assert [display_name(x) for x in ["张三 Bcc: victim@x.cn", '"李雷"', "王芳\r\nTo: all@x.cn", "a@b.cn",
                                      "Zhang San", "赵敏 <boss@x.cn>", "x" * 80]] == \
        ["张三", "李雷", "王芳", "", "Zhang San", "赵敏", "x" * 30]
