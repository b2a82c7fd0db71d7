"""Web chat over a real WebSocket and Rasa's REST channel, through the running application."""
import json

import pytest

from bot_support import receive_until

pytestmark = pytest.mark.bot


async def test_chat_over_websocket_and_reconnect_to_the_same_conversation(engine, client):
    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "hello", "session": None})
    welcome = json.loads((await ws.receive()).data)
    session = welcome["session"]
    assert json.loads((await ws.receive()).data) == {"type": "history", "lines": []}
    await ws.send_json({"type": "message", "text": "/complain"})
    frames = await receive_until(ws, lambda f: "具体情况" in (f.get("text") or ""))
    assert frames[0]["type"] == "bot"
    await ws.close()
    # a new socket with the same session id continues the same form
    ws2 = await client.ws_connect("/ws/chat")
    await ws2.send_json({"type": "hello", "session": session})
    assert json.loads((await ws2.receive()).data)["session"] == session
    await ws2.send_json({"type": "message", "text": "小区门口的烧烤摊每天半夜还在营业，太吵了"})
    frames = await receive_until(ws2, lambda f: "地方" in (f.get("text") or ""))
    assert frames[-1]["type"] == "bot"
    await ws2.close()


async def test_bad_frames_get_clear_errors_and_the_socket_survives(engine, client):
    ws = await client.ws_connect("/ws/chat")
    await ws.send_str("{not json")
    assert json.loads((await ws.receive()).data)["error"] == "bad_frame"
    await ws.send_json({"type": "message", "text": "你好"})
    assert json.loads((await ws.receive()).data)["error"] == "no_session"
    await ws.send_bytes(b"\xff\xfe")
    assert json.loads((await ws.receive()).data)["error"] == "bad_frame"
    await ws.send_json({"type": "hello", "session": "x"})  # too short: a new session is issued
    session = json.loads((await ws.receive()).data)["session"]
    assert len(session) >= 16
    assert json.loads((await ws.receive()).data)["type"] == "history"
    await ws.send_json({"type": "message", "text": 42})
    assert json.loads((await ws.receive()).data)["error"] == "bad_frame"
    await ws.send_json({"type": "message", "text": "你好"})
    frames = await receive_until(ws, lambda f: f["type"] == "idle")
    assert frames[0]["type"] == "bot"
    await ws.close()


async def test_rasa_rest_channel_is_compatible(engine, client):
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "rest-1", "message": "你好"})
    assert resp.status == 200
    replies = await resp.json()
    assert replies[0]["recipient_id"] == "rest-1" and "12345" in replies[0]["text"]
    assert {"title", "payload"} <= set(replies[0]["buttons"][0])
    bad = await client.post("/webhooks/rest/webhook", json={"message": "你好"})
    assert bad.status == 400 and "sender" in (await bad.json())["errors"]
    garbage = await client.post("/webhooks/rest/webhook", data=b"\xff", headers={"Content-Type": "application/json"})
    assert garbage.status == 400
    assert (await client.get("/webhooks/rest/")).status == 200


async def test_a_rest_client_cannot_join_a_chat_or_a_call(engine, client):
    # the widget's and the phone's conversations: their replies and what they proved are theirs
    for sender in ("webchat-AbCdEf0123456789", "voice-0f8c2a3e-1111-4c4c-9d9d-123456789abc"):
        resp = await client.post("/webhooks/rest/webhook?lang=en", json={"sender": sender, "message": "查询进度"})
        assert resp.status == 400
        assert "cannot use it" in (await resp.json())["errors"]["sender"]
        resp = await client.post("/webhooks/rest/webhook?lang=zh", json={"sender": sender, "message": "查询进度"})
        assert "REST 客户端不能使用" in (await resp.json())["errors"]["sender"]
        assert await engine.transcript(sender) == []  # nothing said into it


async def test_chat_channels_say_so_when_the_bot_is_off(client, services):
    services.engine = None
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "你好"})
    assert resp.status == 503


async def test_handoff_queue_and_release_through_the_api(engine, client, staff_tokens, agent_on_duty):
    from conftest import auth
    # a second conversation waits first: rest-h is second in the queue, told so in custom.queue
    await client.post("/webhooks/rest/webhook", json={"sender": "rest-g", "message": "转人工"})
    asked = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-h", "message": "转人工"})).json()
    assert sum("转接" in (r.get("text") or "") for r in asked) == 1  # the hand-off told once
    place = asked[-1]
    assert place["custom"]["queue"]["position"] == 2 and place["custom"]["queue"]["wait_s"] > 0
    assert "您前面还有1位" in place["text"]
    queue = await (await client.get("/api/handoffs", headers=auth(staff_tokens["agent"]))).json()
    assert [h["conversation"] for h in queue] == ["rest-g", "rest-h"]
    assert (await client.post("/api/conversations/rest-g/release", headers=auth(staff_tokens["agent"]))).status == 204
    # a message while waiting is not answered by the bot: the place (now next) in the citizen's language
    waiting = await (await client.post("/webhooks/rest/webhook", json={
        "sender": "rest-h", "message": "有人吗？", "metadata": {"locale": "zh"}})).json()
    assert len(waiting) == 1 and waiting[0]["custom"]["queue"]["position"] == 1
    assert "您是下一位" in waiting[0]["text"]
    assert (await client.post("/api/conversations/rest-h/release", headers=auth(staff_tokens["agent"]))).status == 204
    back = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-h", "message": "你好"})).json()
    assert back and (await (await client.get("/api/handoffs", headers=auth(staff_tokens["agent"]))).json()) == []


async def test_the_chat_keeps_its_place_hands_off_once_and_can_be_downloaded(engine, client, agent_on_duty):
    """A reconnect (a page change, a reload) replays the conversation as the citizen saw it (button
    clicks by their titles, the widget's own /greet left out); the transcript downloads as text;
    the hand-off is told once, with the place in the queue."""
    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "hello", "session": None})
    session = json.loads((await ws.receive()).data)["session"]
    assert json.loads((await ws.receive()).data) == {"type": "history", "lines": []}  # new: the widget greets
    await ws.send_json({"type": "message", "text": "/greet"})
    greeting = (await receive_until(ws, lambda f: f["type"] == "idle"))[0]
    complain = next(b for b in greeting["buttons"] if b["payload"] == "/complain")
    await ws.send_json({"type": "message", "text": "/complain"})
    await receive_until(ws, lambda f: f["type"] == "idle")
    await ws.close()

    again = await client.ws_connect("/ws/chat")
    await again.send_json({"type": "hello", "session": session})
    assert json.loads((await again.receive()).data)["type"] == "welcome"
    lines = json.loads((await again.receive()).data)["lines"]
    assert lines[0] == {**lines[0], "from": "bot", "text": greeting["text"]} and "buttons" not in lines[0]
    assert lines[1]["from"] == "citizen" and lines[1]["text"] == complain["title"] and lines[1]["button"]
    assert "具体情况" in lines[-1]["text"] and not any(line["text"].startswith("/") for line in lines)

    resp = await client.post("/chat/transcript", json={"session": session})
    text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert f"我：{complain['title']}" in text and "智能客服：您好" in text and "/greet" not in text
    assert (await client.post("/chat/transcript", json={"session": "../x"})).status == 400
    assert (await client.post("/chat/transcript", json={"session": "n" * 24})).status == 404

    await again.send_json({"type": "message", "text": "转人工"})
    frames = await receive_until(again, lambda f: f["type"] == "idle")
    told = [f for f in frames if f["type"] == "bot" and "转接" in (f.get("text") or "")]
    handoff = next(f for f in frames if f["type"] == "handoff")
    assert len(told) == 1 and handoff["position"] == 1 and handoff["wait_s"] > 0
    await again.close()


async def test_a_language_the_bot_does_not_speak_is_said_so(engine, client):
    engine.locales = ("zh",)  # the Chinese model alone
    ws = await client.ws_connect("/ws/chat?lang=en")
    await ws.send_json({"type": "hello", "session": None})
    await receive_until(ws, lambda f: f["type"] == "history")
    await ws.send_json({"type": "message", "text": "I want to complain about construction noise"})
    frames = await receive_until(ws, lambda f: f["type"] == "idle")
    assert frames[0] == {"type": "unsupported_locale", "locale": "en", "served": ["zh"]}
    assert not any(f["type"] == "bot" for f in frames)  # never an answer in another language
    await ws.send_json({"type": "message", "text": "你好", "locale": "zh"})  # the citizen chose Chinese
    frames = await receive_until(ws, lambda f: f["type"] == "idle")
    assert frames[0]["type"] == "bot" and "12345" in frames[0]["text"]
    await ws.close()
    # the Rasa REST channel reads the language from the message's metadata
    said = await (await client.post("/webhooks/rest/webhook", json={
        "sender": "rest-en", "message": "I want to complain about construction noise", "metadata": {"locale": "en"}})).json()
    assert said[0]["custom"] == {"unsupported_locale": "en", "served": ["zh"]} and "English" in said[0]["text"]


async def test_nobody_on_duty_the_chat_says_so_and_offers_to_file_or_leave_a_message(engine, client, services):
    """No agent or supervisor has the desk open: 转人工 is answered in chat words (the hours when set,
    what can be done now) instead of a place in a queue nobody works; nothing waits on the desk."""
    services.settings.agent_hours = "每天 8:00–22:00"
    engine.runtime.agent_hours = services.settings.agent_hours  # (read when the desk starts)
    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "hello", "session": None})
    await receive_until(ws, lambda f: f["type"] == "history")
    await ws.send_json({"type": "message", "text": "转人工"})
    frames = await receive_until(ws, lambda f: f["type"] == "idle")
    said = " ".join(f.get("text") or "" for f in frames if f["type"] == "bot")
    assert "没有人工客服在线" in said and "每天 8:00–22:00" in said and "留言" in said
    assert "转接" not in said and "请稍候" not in said and not any(f["type"] == "handoff" for f in frames)
    offered = [b["payload"] for f in frames if f["type"] == "bot" for b in f.get("buttons") or []]
    assert offered == ["/complain", "/leave_consultation"]
    # the offer works: a message left is asked for at once
    await ws.send_json({"type": "message", "text": "/leave_consultation"})
    asked = await receive_until(ws, lambda f: f["type"] == "idle")
    assert any(f["type"] == "bot" and "具体" in (f.get("text") or "") for f in asked), asked
    await ws.close()
    # the REST channel alike
    answer = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-night",
                                                                     "message": "我要找人工客服"})).json()
    assert any("没有人工客服在线" in (r.get("text") or "") for r in answer), answer
    assert not any("queue" in (r.get("custom") or {}) for r in answer)
    from cases.conversations import ConversationLog
    assert await ConversationLog(services.db).waiting() == []


async def test_an_agent_on_duty_takes_the_queue_again(engine, client, agent_on_duty):
    answer = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-day", "message": "转人工"})).json()
    assert any("转接" in (r.get("text") or "") for r in answer)
    assert answer[-1]["custom"]["queue"]["position"] == 1


async def test_a_turns_frames_go_corked_in_order_to_every_tab_and_the_socket_is_uncorked_after():
    """ChatHub.send: several frames to each open tab of a session, in order, TCP_CORK set around
    them (one segment) and cleared after, so later frames (an agent's line) are not held back."""
    import asyncio
    import socket

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from channels.webchat import ChatHub

    hub, seen = ChatHub(), []

    async def tab(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hub.sockets["s"].add(ws)
        async for _ in ws:
            assert await hub.send("s", {"type": "bot", "text": "一"}, {"type": "bot", "text": "二"},
                                  {"type": "idle"}) == len(hub.sockets["s"])
            seen.append(ws.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
        return ws

    app = web.Application()
    app.router.add_get("/", tab)
    async with TestClient(TestServer(app)) as client:
        first, second = await client.ws_connect("/"), await client.ws_connect("/")
        while len(hub.sockets["s"]) < 2:
            await asyncio.sleep(0.01)
        await first.send_str("go")
        for ws in (first, second):
            assert [json.loads((await ws.receive(timeout=5)).data).get("text") for _ in range(3)] == ["一", "二", None]
        assert seen == [0]
        await first.close()
        await second.close()
