"""A new mail about a matter its sender already reported goes onto that open case (the answer says
its number) when the mail server verified From (DMARC); a mail whose subject says 新诉求 gets a case
of its own, and so does one whose From nobody verified (anyone can write a neighbour's address
there): filed apart, flagged for an agent, its words never added to the neighbour's case. Real
dovecot, as in test_email."""
from __future__ import annotations

import pytest  # noqa: F401  (fixtures below come from test_email)

from test_email import (case_for, channel_factory, count_cases, dovecot, file_by_mail, mail,  # noqa: F401
                        mailbox_user, sink, wait_processed)

VERIFIED = {"Authentication-Results": "mx.hotline.example; spf=pass smtp.mailfrom=example.cn; "
                                      "dkim=pass header.d=example.cn; dmarc=pass header.from=example.cn"}


async def filed_then_again(channel_factory, dovecot, mailbox_user, sink, headers: dict):
    """王五's first mail filed, then a second about the same site from the same From (with `headers`)
    processed and answered: (the channel, the first case, the second's Message-ID)."""
    channel = await channel_factory()
    _, case, _ = await file_by_mail(channel, dovecot, mailbox_user, sink, "投诉：工地夜间施工",
                                    "幸福路12号的工地每天半夜还在施工，电钻声音太吵了，孩子睡不着。",
                                    "wang@example.cn", "王五")
    again, again_mid = mail("还是工地噪音", "幸福路十二号那个工地昨晚又施工到两点，电钻声音太吵了，请尽快处理。",
                            sender="wang@example.cn", name="王五", files=[("night.pdf", b"%PDF-1.4 night", "pdf")],
                            headers=headers)
    await dovecot.append(mailbox_user, again)
    await wait_processed(channel, 2)
    await sink.wait_for(lambda: len(sink.to("wang@example.cn")) == 2)
    return channel, case, again_mid


def body_of(message) -> str:
    return message.get_content() if not message.is_multipart() else message.get_body().get_content()


async def test_a_second_mail_about_the_same_site_is_added_to_the_open_case(channel_factory, dovecot, mailbox_user,
                                                                            sink):
    channel, case, _ = await filed_then_again(channel_factory, dovecot, mailbox_user, sink, VERIFIED)
    services = channel.services
    answer = sink.to("wang@example.cn")[1].message
    text = body_of(answer)
    assert case.number in text and "新诉求" in text and "查询密码：" not in text
    assert case.number in answer["Subject"]
    assert await count_cases(services) == 1
    events = await services.store.events(case.id)
    [added] = [e for e in events if e.action == "supplement"]
    assert "昨晚又施工到两点" in added.comment and added.public and added.data["intake"] == "email"
    assert "night.pdf" in [a.filename for a in await services.store.attachments(case.id)]
    # "another matter": a new mail that says so gets its own case and password
    other, other_mid = mail("新诉求：工地夜间施工", "幸福路12号工地又开始施工了，这次是渣土车半夜进出。",
                            sender="wang@example.cn", name="王五", headers=VERIFIED)
    await dovecot.append(mailbox_user, other)
    await wait_processed(channel, 3)
    await sink.wait_for(lambda: len(sink.to("wang@example.cn")) == 3)
    assert await count_cases(services) == 2
    assert (await case_for(services, other_mid)).id != case.id


async def test_a_mail_whose_from_nobody_verified_is_filed_apart_and_flagged(channel_factory, dovecot, mailbox_user,
                                                                            sink):
    channel, case, forged_mid = await filed_then_again(channel_factory, dovecot, mailbox_user, sink, {})
    services = channel.services
    apart = await case_for(services, forged_mid)
    assert apart.id != case.id and await count_cases(services) == 2
    answer = sink.to("wang@example.cn")[1].message  # the acknowledgement any new case gets
    assert apart.number in body_of(answer) and "查询密码" in body_of(answer) and case.number not in body_of(answer)
    assert [e.action for e in await services.store.events(case.id, public_only=True)] == ["register"]
    assert "night.pdf" not in [a.filename for a in await services.store.attachments(case.id)]
    flags = ("duplicate_reported", "duplicate_suspected")
    assert [(e.action, e.data, e.public) for e in await services.store.events(case.id) if e.action in flags] == \
        [("duplicate_reported", {"case": apart.number}, False)]
    assert [(e.action, e.data, e.public) for e in await services.store.events(apart.id) if e.action in flags] == \
        [("duplicate_suspected", {"case": case.number}, False)]
