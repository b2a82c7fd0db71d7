"""Live hand-off through the desk with real sockets: a waiting web chat appears on the desk, two
agents click "take" at once and exactly one gets it, the citizen's lines reach the agent's screen
and the agent's reach the citizen's chat, and handing back asks the citizen for a rating."""
from __future__ import annotations

import asyncio
import json
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cases.conversations import ConversationLog
from hotline.web import create_app
from cases.handoffs import AlreadyTaken, HandoffDesk
from channels.desk.live import LIVE
from desk_support import login, make_users, post

SESSION = "citizen-session-0001"
CONV = f"webchat-{SESSION}"


async def frames_until(ws, predicate, timeout=5.0) -> dict:
    """Read frames until one satisfies `predicate`; returns it."""
    async def read():
        while True:
            msg = await ws.receive()
            frame = json.loads(msg.data)
            if predicate(frame):
                return frame
    return await asyncio.wait_for(read(), timeout)


@pytest.fixture
async def clients(services):
    """Browsers (each with its own cookies) on ONE gateway: the desk and the chat share its memory."""
    server = TestServer(create_app(services))
    made = []

    async def make():
        c = TestClient(server)
        await c.start_server()
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


async def _handed_off(services, app) -> int:
    # a summary as older rows hold it too: bot internals among the slots, which the desk never shows
    handoff = await ConversationLog(services.db).request_handoff(
        CONV, "webchat", "asked", {"intent": "request_human", "asked": ["楼上装修太吵了"], "phone": "13812345678",
                                   "slots": {"case_kind": "complaint", "did_business": True, "failures": 0,
                                             "correct_field": "case_location"}},
        [{"from": "citizen", "text": "我要找人工"}, {"from": "bot", "text": "请问是否需要回复？"},
         {"from": "citizen", "text": "需要", "button": True}, {"from": "bot", "text": "正在为您转接人工客服"}])
    await app[LIVE].on_bot_event("handoff_requested", {"conversation": CONV, "channel": "webchat"})
    return handoff.id


async def test_two_agents_cannot_take_the_same_conversation(services, db_url):
    await make_users(services)
    conv = ConversationLog(services.db)
    handoff = await conv.request_handoff("webchat-race", "webchat", "asked", {}, [])
    from sqlalchemy import select

    from cases.models import User
    async with services.db.read() as s:
        a1, a2 = [(await s.execute(select(User).where(User.username == n))).scalar() for n in ("agent1", "agent2")]
    desk = HandoffDesk(services.db)
    results = await asyncio.gather(*(desk.take(handoff.id, u) for u in (a1, a2, a1, a2)), return_exceptions=True)
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1 and all(isinstance(r, AlreadyTaken) for r in results if r not in won)
    assert (await conv.get("webchat-race")).state == "agent"


async def test_agent_takes_a_web_chat_and_talks_to_the_citizen(services, clients):
    await make_users(services)
    agent1, agent2, citizen = await clients(), await clients(), await clients()
    assert (await login(agent1, "agent1")).status == 302
    assert (await login(agent2, "agent2")).status == 302
    app = agent1.server.app
    # the citizen's chat is open on the same gateway
    chat = await citizen.ws_connect("/ws/chat")
    await chat.send_json({"type": "hello", "session": SESSION})
    await frames_until(chat, lambda f: f["type"] == "welcome")
    desk1 = await agent1.ws_connect("/desk/ws")
    await frames_until(desk1, lambda f: f["type"] == "hello")

    handoff_id = await _handed_off(services, app)
    await frames_until(desk1, lambda f: f["type"] == "queue")  # the queue changed: the desk reloads it
    queue = await (await agent1.get("/desk/live?fragment=1")).text()
    assert CONV in queue and "诉求类型：投诉" in queue
    assert not any(word in queue for word in ("request_human", "did_business", "failures", "correct_field"))

    # both agents click "take" at the same moment: one gets the chat, the other is told
    r1, r2 = await asyncio.gather(post(agent1, f"/desk/live/{handoff_id}/take", page="/desk/live", allow_redirects=False),
                                  post(agent2, f"/desk/live/{handoff_id}/take", page="/desk/live", allow_redirects=False))
    statuses = sorted([r1.status, r2.status])
    assert statuses == [302, 409], statuses
    winner, loser = (agent1, agent2) if r1.status == 302 else (agent2, agent1)
    winner_no = "1024" if winner is agent1 else "1025"
    greeting = await frames_until(chat, lambda f: f["type"] == "agent")
    assert f"工号 {winner_no}" in greeting["text"]

    if winner is agent2:  # the winner's own desk socket sees the lines
        desk1 = await agent2.ws_connect("/desk/ws")
        await frames_until(desk1, lambda f: f["type"] == "hello")
    # citizen → desk: the bot stays silent, the line reaches the agent's screen
    await chat.send_json({"type": "message", "text": "楼上装修噪音太大了"})
    line = await frames_until(desk1, lambda f: f["type"] == "line" and f["from"] == "citizen")
    assert line["text"] == "楼上装修噪音太大了" and line["conversation"] == CONV
    # desk → citizen
    token = re.search(r'data-csrf="([^"]+)"', await (await winner.get(f"/desk/live/chat/{CONV}")).text()).group(1)
    resp = await winner.post(f"/desk/api/live/{CONV}/messages", json={"text": "好的，我帮您登记投诉。"},
                             headers={"X-CSRF-Token": token})
    assert resp.status == 201
    said = await frames_until(chat, lambda f: f["type"] == "agent")
    assert said["text"] == "好的，我帮您登记投诉。" and said["agent_no"] == winner_no
    # the one who lost may not talk in it, nor without the CSRF header
    loser_token = re.search(r'data-csrf="([^"]+)"', await (await loser.get("/desk/live")).text()).group(1)
    resp = await loser.post(f"/desk/api/live/{CONV}/messages", json={"text": "插话"}, headers={"X-CSRF-Token": loser_token})
    assert resp.status == 403
    resp = await winner.post(f"/desk/api/live/{CONV}/messages", json={"text": "no token"})
    assert resp.status == 400
    # what was said is kept with the hand-off
    kept = await app[LIVE].handoffs.open_for(CONV)
    assert [line["from"] for line in kept.transcript][-3:] == ["agent", "citizen", "agent"]

    # hand back: the citizen is asked to rate the service, the conversation returns to the bot
    resp = await post(winner, f"/desk/live/chat/{CONV}/release", {"mode": "back"}, page="/desk/live",
                      allow_redirects=False)
    assert resp.status == 302
    rate = await frames_until(chat, lambda f: f["type"] == "bot" and f.get("buttons"))
    assert "评价" in rate["text"] and [b["title"] for b in rate["buttons"]] == ["满意", "一般", "不满意"]
    assert (await ConversationLog(services.db).get(CONV)).state == "bot"
    assert CONV not in app[LIVE].live
    await chat.close(); await desk1.close()


async def test_supervisor_takes_over_and_transfer(services, clients):
    users = await make_users(services)
    agent, sup = await clients(), await clients()
    await login(agent, "agent1"); await login(sup, "super1")
    app = agent.server.app
    handoff_id = await _handed_off(services, app)
    assert (await post(agent, f"/desk/live/{handoff_id}/take", page="/desk/live", allow_redirects=False)).status == 302
    # agents cannot take over; supervisors can, and see every live conversation
    assert (await post(agent, f"/desk/live/{handoff_id}/takeover", page="/desk/live", allow_redirects=False)).status == 403
    assert CONV in await (await sup.get("/desk/live")).text()
    assert (await sup.get(f"/desk/live/chat/{CONV}")).status == 200
    assert (await post(sup, f"/desk/live/{handoff_id}/takeover", page="/desk/live", allow_redirects=False)).status == 302
    assert (await app[LIVE].handoffs.open_for(CONV)).taken_by == users["super1"].id
    # the supervisor transfers it to agent2
    resp = await post(sup, f"/desk/live/chat/{CONV}/transfer", {"to_user": str(users["agent2"].id)},
                      page="/desk/live", allow_redirects=False)
    assert resp.status == 302
    assert (await app[LIVE].handoffs.open_for(CONV)).taken_by == users["agent2"].id
    # agent2 ends it: the hand-off is closed and the conversation marked ended
    agent2 = await clients()
    await login(agent2, "agent2")
    resp = await post(agent2, f"/desk/live/chat/{CONV}/release", {"mode": "end"}, page="/desk/live",
                      allow_redirects=False)
    assert resp.status == 302
    assert await app[LIVE].handoffs.open_for(CONV) is None
    assert (await ConversationLog(services.db).get(CONV)).state == "ended"
    assert (await sup.get(f"/desk/live/chat/{CONV}")).status == 404


async def test_the_hand_off_panel_reads_like_a_summary_and_shortcuts_are_checked(services, clients):
    """What the agent sees of a chat the bot filed a case in: the citizen's words, the case as a
    link, the phone given in the chat and the history found by it, the button clicks; canned
    replies seeded, an unknown shortcut refused with a message (never sent), a new one live."""
    from desk_support import new_case

    await make_users(services)
    earlier = await new_case(services, phone="13812345678")
    agent, citizen = await clients(), await clients()
    await login(agent, "agent1")
    app = agent.server.app
    chat = await citizen.ws_connect("/ws/chat")
    await chat.send_json({"type": "hello", "session": SESSION})
    await frames_until(chat, lambda f: f["type"] == "history")
    handoff_id = await _handed_off(services, app)
    await ConversationLog(services.db).add_case(CONV, "webchat", earlier.number)
    waiting = await frames_until(chat, lambda f: f["type"] == "queue")  # the citizen hears their place
    assert waiting["position"] == 1 and waiting["wait_s"] > 0
    # a message while nobody has the chat yet is acknowledged, not left unanswered
    await chat.send_json({"type": "message", "text": "有人吗？"})
    ack = await frames_until(chat, lambda f: f["type"] == "queue" and f.get("ack"))
    assert ack["position"] == 1

    await post(agent, f"/desk/live/{handoff_id}/take", page="/desk/live", allow_redirects=False)
    page = await (await agent.get(f"/desk/live/chat/{CONV}")).text()
    assert not any(word in page for word in ("request_human", "did_business", "failures", "correct_field"))
    assert "楼上装修太吵了" in page and f'href="/desk/cases/{earlier.number}"' in page
    assert re.search(r'id="summary-phone">13812345678<', page)
    history = page[page.index('id="history"'):]  # 来电历史, found by the phone given in the chat
    assert earlier.number in history
    assert re.search(r"button-click.*点击.*需要", page)  # the button the citizen clicked
    assert "有人吗？" in page  # said while waiting: kept for the agent

    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    canned = (await (await agent.get("/desk/api/canned")).json())["canned"]
    hello = next(c["text"] for c in canned if c["shortcut"] == "/hello")  # seeded reference data
    resp = await agent.post(f"/desk/api/live/{CONV}/messages", json={"text": "/nosuch"}, headers={"X-CSRF-Token": token})
    assert resp.status == 400 and "/nosuch" in (await resp.json())["errors"]["text"]
    resp = await agent.post(f"/desk/api/live/{CONV}/messages", json={"text": "/hello"}, headers={"X-CSRF-Token": token})
    assert resp.status == 201
    said = await frames_until(chat, lambda f: f["type"] == "agent" and "工号" not in f["text"])
    assert said["text"] == hello  # the reply, never the shortcut
    page = await (await agent.get(f"/desk/live/chat/{CONV}")).text()
    assert hello in page and "/nosuch" not in page  # kept after a reload; the refused one never existed

    desk = await agent.ws_connect("/desk/ws")
    await frames_until(desk, lambda f: f["type"] == "hello")
    await post(agent, "/desk/canned", {"shortcut": "/thanks", "text": "感谢您的耐心等待。"}, page="/desk/canned")
    await frames_until(desk, lambda f: f["type"] == "canned")  # open chat pages refetch their list
    assert "/thanks" in [c["shortcut"] for c in (await (await agent.get("/desk/api/canned")).json())["canned"]]
    await chat.close(); await desk.close()


async def test_canned_replies_are_kept_per_agent(services, client_factory):
    await make_users(services)
    agent = await client_factory(services)
    await login(agent, "agent1")
    resp = await post(agent, "/desk/canned", {"shortcut": "/hi", "text": "您好，请问有什么可以帮您？"}, page="/desk/canned")
    assert resp.status == 200 and "/hi" in await resp.text()
    resp = await post(agent, "/desk/canned", {"shortcut": "no slash", "text": "x"}, page="/desk/canned")
    assert resp.status == 400
    other = await client_factory(services)
    await login(other, "agent2")
    assert "/hi" not in await (await other.get("/desk/canned")).text()


async def test_two_gateway_processes_share_live_updates_through_redis(services_factory, db_url):
    """The citizen's chat on one gateway, the agent's desk on another: lines cross through Redis
    (under a key prefix of this test's own: the Redis is shared, and so is its pub/sub)."""
    from conftest import REDIS_SERVER, redis_namespace

    with redis_namespace("desk-live") as (prefix, _):
        one = await services_factory(db_url, redis_url=REDIS_SERVER, redis_prefix=prefix)
        two = await services_factory(db_url, redis_url=REDIS_SERVER, redis_prefix=prefix)
        await _lines_cross(one, two)


async def _lines_cross(one, two) -> None:
    await make_users(one)
    server_a, server_b = TestServer(create_app(one)), TestServer(create_app(two))
    citizen, agent = TestClient(server_a), TestClient(server_b)
    await citizen.start_server(); await agent.start_server()
    try:
        await login(agent, "agent1")
        chat = await citizen.ws_connect("/ws/chat")
        await chat.send_json({"type": "hello", "session": SESSION})
        await frames_until(chat, lambda f: f["type"] == "welcome")
        assert await citizen.server.app[LIVE].anyone_on_duty() is False  # nobody has a desk open
        desk = await agent.ws_connect("/desk/ws")
        await frames_until(desk, lambda f: f["type"] == "hello")
        # gateway A knows that an agent is on duty on B: the chat's hand-offs are queued, not refused
        assert await citizen.server.app[LIVE].anyone_on_duty() is True
        # the hand-off is requested on gateway A (where the bot runs the citizen's chat)
        handoff_id = await _handed_off(one, citizen.server.app)
        await frames_until(desk, lambda f: f["type"] == "queue")
        resp = await post(agent, f"/desk/live/{handoff_id}/take", page="/desk/live", allow_redirects=False)
        assert resp.status == 302
        greeting = await frames_until(chat, lambda f: f["type"] == "agent")
        assert "工号 1024" in greeting["text"]
        for _ in range(50):  # gateway A learns who holds it through the bus
            if citizen.server.app[LIVE].live.get(CONV):
                break
            await asyncio.sleep(0.05)
        await chat.send_json({"type": "message", "text": "我在A网关上说话"})
        line = await frames_until(desk, lambda f: f["type"] == "line" and f["from"] == "citizen")
        assert line["text"] == "我在A网关上说话"
        await chat.close(); await desk.close()
    finally:
        await citizen.close(); await agent.close()


async def test_a_chat_transcript_is_mailed_once_asked_within_limits(services_factory, client_factory, db_url):
    """The citizen's transcript goes to the address they typed, through the outbox; bad input and
    a gateway that sends no mail get clear answers."""
    import sqlalchemy as sa

    from cases.models import MailOutbox

    quiet = await services_factory(db_url)
    services = await services_factory(db_url, smtpd_port=2525, mail_from="12345@city.example.cn")
    await ConversationLog(services.db).request_handoff(CONV, "webchat", "asked", {}, [])
    await HandoffDesk(services.db).append(CONV, {"from": "citizen", "text": "楼上装修太吵了"})
    await HandoffDesk(services.db).append(CONV, {"from": "agent", "text": "好的，已为您登记。", "agent_no": "1024"})
    off = await (await client_factory(quiet)).post("/chat/transcript/email",
                                                   json={"session": SESSION, "email": "wang@example.cn"})
    assert off.status == 503
    client = await client_factory(services)
    bad = await client.post("/chat/transcript/email", json={"session": SESSION, "email": "不是邮箱"})
    assert bad.status == 400 and "邮箱" in (await bad.json())["errors"]["email"]
    for _ in range(3):
        assert (await client.post("/chat/transcript/email", json={"session": SESSION, "email": "wang@example.cn"})).status == 202
    limited = await client.post("/chat/transcript/email", json={"session": SESSION, "email": "wang@example.cn"})
    assert limited.status == 429 and "Retry-After" in limited.headers
    async with services.db.read() as s:
        mails = (await s.execute(sa.select(MailOutbox))).scalars().all()
    assert len(mails) == 3 and mails[0].recipient == "wang@example.cn" and mails[0].purpose == "transcript"
    from email import message_from_string, policy
    body = message_from_string(mails[0].body, policy=policy.default).get_content()
    assert "我：楼上装修太吵了" in body and "人工客服 1024：好的，已为您登记。" in body
