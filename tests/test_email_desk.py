"""Held mail at the desk (/desk/mail) over HTTP, signed in through the desk's login form with its
CSRF token: agents list the held mail, read one, release it (spam -> a new case; a stranger's reply
-> an event on its case, or a case of its own) or discard it; each action recorded, each once."""
from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from cases.models import MailMessage
from channels.email.web import setup_routes
from desk_support import csrf_of, login, make_users
from hotline.web import create_app
from test_email import (case_for, channel_factory, dovecot, file_by_mail, mail, mailbox_user,  # noqa: F401
                        sink, wait_processed)  # (fixtures among them)

ROW = re.compile(r'<tr id="held-(\d+)">')


async def _post(client, path: str, data: dict | None = None, page: str = "/desk/mail"):
    token = await csrf_of(client, page)
    return await client.post(path, data={**(data or {}), "csrf_token": token}, allow_redirects=False)


async def test_agents_read_release_and_discard_held_mail_at_the_desk(channel_factory, dovecot, mailbox_user, sink):
    channel = await channel_factory()
    services = channel.services
    ack, case, _ = await file_by_mail(channel, dovecot, mailbox_user, sink, "投诉：广场舞噪音",
                                      "小区广场舞音响太大，晚上十点还不停。", "zhao@example.cn", "赵敏")
    held = {
        "spam": mail("投诉：楼道堆物", "楼道里堆满杂物，<script>alert(1)</script>消防隐患很大。", sender="flagged@example.cn",
                     headers={"X-Spam-Flag": "YES"}),
        "junk": mail("发票", "代开发票，电话13800000000。", sender="junk@example.cn", headers={"X-Spam": "Yes"}),
        "neighbour": mail(f"Re: {ack['Subject']}", "我是邻居，音响确实太吵。", sender="neighbour@example.cn",
                          headers={"In-Reply-To": ack["Message-ID"]}),
        "other": mail(f"Re: {ack['Subject']}", "我要另外反映：小区门口的路灯坏了。", sender="other@example.cn",
                      headers={"In-Reply-To": ack["Message-ID"]}),
        "nosy": mail(f"Re: {ack['Subject']}", "这事跟我没关系，随便问问。", sender="nosy@example.cn",
                     headers={"In-Reply-To": ack["Message-ID"]}),
    }
    await dovecot.append(mailbox_user, *(raw for raw, _ in held.values()))
    await wait_processed(channel, 6)

    app = create_app(services)
    setup_routes(app, channel)  # as hotline.server does when the mail channel runs
    await make_users(services)
    agent = TestClient(TestServer(app))
    await agent.start_server()
    try:
        assert (await agent.get("/desk/mail", allow_redirects=False)).status == 302  # sign in first
        assert (await login(agent, "agent1")).status == 302
        page = await (await agent.get("/desk/mail")).text()
        assert 'id="nav-mail"' in page and "待处理邮件" in page
        ids = {}
        async with services.db.read() as s:
            for key, (_, message_id) in held.items():
                ids[key] = (await s.execute(select(MailMessage.id).where(MailMessage.message_id == message_id))).scalar()
        assert sorted(int(i) for i in ROW.findall(page)) == sorted(ids.values())
        assert "垃圾邮件过滤器判定" in page and "陌生地址回复工单" in page and case.number in page

        # reading one: its text, escaped, and the actions that fit it
        detail = await (await agent.get(f"/desk/mail/{ids['spam']}")).text()
        assert "楼道里堆满杂物" in detail and "<script>alert(1)" not in detail and "&lt;script&gt;" in detail
        assert 'id="release-case"' in detail and 'id="release-event"' not in detail
        detail = await (await agent.get(f"/desk/mail/{ids['neighbour']}")).text()
        assert "音响确实太吵" in detail and 'id="release-event"' in detail and case.number in detail

        # an action without the form's CSRF token changes nothing
        resp = await agent.post(f"/desk/mail/{ids['spam']}/release", data={"as": "case"}, allow_redirects=False)
        assert resp.status in (400, 403)
        assert (await channel.ledger.get(ids["spam"])).state == "held"

        # spam released: filed as a case, the sender acknowledged
        resp = await _post(agent, f"/desk/mail/{ids['spam']}/release", {"as": "case"})
        assert resp.status == 302 and "done=case" in resp.headers["Location"]
        spam_case = await case_for(services, held["spam"][1])
        assert spam_case.number in resp.headers["Location"] and spam_case.contact_email == "flagged@example.cn"
        await sink.wait_for(lambda: len(sink.to("flagged@example.cn")) == 1)
        flash = await (await agent.get(resp.headers["Location"])).text()
        assert spam_case.number in flash and "已放行" in flash

        # the neighbour's reply added to the case; the other stranger's made a case of its own
        resp = await _post(agent, f"/desk/mail/{ids['neighbour']}/release", {"as": "event"})
        assert resp.status == 302 and "done=event" in resp.headers["Location"]
        events = [e for e in await services.store.events(case.id) if e.action == "third_party_mail"]
        assert [(e.actor, e.comment) for e in events] == [("user:agent1", "我是邻居，音响确实太吵。")]
        resp = await _post(agent, f"/desk/mail/{ids['other']}/release", {"as": "case"})
        other_case = await case_for(services, held["other"][1])
        assert other_case.id != case.id and other_case.contact_email == "other@example.cn"
        assert "路灯坏了" in other_case.description
        await sink.wait_for(lambda: len(sink.to("other@example.cn")) == 1)

        # discarded: nothing filed or answered, who and when kept; about a case: noted on it
        for key in ("junk", "nosy"):
            resp = await _post(agent, f"/desk/mail/{ids[key]}/discard")
            assert resp.status == 302 and "done=discarded" in resp.headers["Location"]
            row = await channel.ledger.get(ids[key])
            assert (row.state, row.released_by) == ("discarded", "user:agent1") and row.released_at is not None
        noted = [e for e in await services.store.events(case.id) if e.action == "held_mail_discarded"]
        assert len(noted) == 1 and noted[0].actor == "user:agent1" and noted[0].data["sender"] == "nosy@example.cn"
        assert sink.to("junk@example.cn") == [] and sink.to("nosy@example.cn") == []

        # each once: a second release or discard finds nothing held
        for path in (f"/desk/mail/{ids['spam']}/release", f"/desk/mail/{ids['junk']}/discard"):
            resp = await _post(agent, path, {"as": "case"})
            assert resp.status == 302 and resp.headers["Location"].endswith("done=gone")
        page = await (await agent.get("/desk/mail")).text()
        assert ROW.findall(page) == [] and "没有待处理的邮件" in page
        assert (await channel.ledger.states()).get("held", 0) == 0

        # a department handler has no business here
        assert (await _post(agent, "/desk/logout")).status == 302
        assert (await login(agent, "dept1")).status == 302
        assert (await agent.get("/desk/mail", allow_redirects=False)).status == 403
        assert 'id="nav-mail"' not in await (await agent.get("/desk/cases")).text()
    finally:
        await agent.close()
