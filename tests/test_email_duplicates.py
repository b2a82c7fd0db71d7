"""A new mail about a matter its sender already reported goes onto that open case (the answer says
its number); a mail whose subject says 新诉求 gets a case of its own. Real dovecot, as in test_email."""
from __future__ import annotations

import pytest  # noqa: F401  (fixtures below come from test_email)

from test_email import (case_for, channel_factory, count_cases, dovecot, file_by_mail, mail,  # noqa: F401
                        mailbox_user, sink, wait_processed)


async def test_a_second_mail_about_the_same_site_is_added_to_the_open_case(channel_factory, dovecot, mailbox_user,
                                                                            sink):
    channel = await channel_factory()
    services = channel.services
    ack, case, _ = await file_by_mail(channel, dovecot, mailbox_user, sink, "投诉：工地夜间施工",
                                      "幸福路12号的工地每天半夜还在施工，电钻声音太吵了，孩子睡不着。",
                                      "wang@example.cn", "王五")
    again, again_mid = mail("还是工地噪音", "幸福路十二号那个工地昨晚又施工到两点，电钻声音太吵了，请尽快处理。",
                            sender="wang@example.cn", name="王五", files=[("night.pdf", b"%PDF-1.4 night", "pdf")])
    await dovecot.append(mailbox_user, again)
    await wait_processed(channel, 2)
    await sink.wait_for(lambda: len(sink.to("wang@example.cn")) == 2)
    answer = sink.to("wang@example.cn")[1].message
    text = answer.get_content() if not answer.is_multipart() else answer.get_body().get_content()
    assert case.number in text and "新诉求" in text and "查询密码：" not in text
    assert case.number in answer["Subject"]
    assert await count_cases(services) == 1
    events = await services.store.events(case.id)
    [added] = [e for e in events if e.action == "supplement"]
    assert "昨晚又施工到两点" in added.comment and added.public and added.data["intake"] == "email"
    assert "night.pdf" in [a.filename for a in await services.store.attachments(case.id)]
    # "another matter": a new mail that says so gets its own case and password
    other, other_mid = mail("新诉求：工地夜间施工", "幸福路12号工地又开始施工了，这次是渣土车半夜进出。",
                            sender="wang@example.cn", name="王五")
    await dovecot.append(mailbox_user, other)
    await wait_processed(channel, 3)
    await sink.wait_for(lambda: len(sink.to("wang@example.cn")) == 3)
    assert await count_cases(services) == 2
    assert (await case_for(services, other_mid)).id != case.id
