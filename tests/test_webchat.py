"""Web chat over a real WebSocket and Rasa's REST channel, through the running application."""
import json

import pytest

pytestmark = pytest.mark.bot


async def receive_until(ws, predicate, limit=20):
    frames = []
    for _ in range(limit):
        frame = json.loads((await ws.receive(timeout=30)).data)
        frames.append(frame)
        if predicate(frame):
            return frames
    raise AssertionError(frames)


async def test_chat_over_websocket_and_reconnect_to_the_same_conversation(engine, client):
    ws = await client.ws_connect("/ws/chat")
    await ws.send_json({"type": "hello", "session": None})
    welcome = json.loads((await ws.receive()).data)
    session = welcome["session"]
    await ws.send_json({"type": "message", "text": "/complain"})
    frames = await receive_until(ws, lambda f: "具体情况" in (f.get("text") or ""))
    assert frames[0]["type"] == "bot"
    await ws.close()
    # a new socket with the same session id continues the same form
    ws2 = await client.ws_connect("/ws/chat")
    await ws2.send_json({"type": "hello", "session": session})
    assert json.loads((await ws2.receive()).data) == {"type": "welcome", "session": session}
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


async def test_chat_channels_say_so_when_the_bot_is_off(client, services):
    services.engine = None
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "你好"})
    assert resp.status == 503


async def test_handoff_queue_and_release_through_the_api(engine, client, staff_tokens):
    from conftest import auth
    await client.post("/webhooks/rest/webhook", json={"sender": "rest-h", "message": "转人工"})
    queue = await (await client.get("/api/handoffs", headers=auth(staff_tokens["agent"]))).json()
    assert [h["conversation"] for h in queue] == ["rest-h"]
    silent = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-h", "message": "你好"})).json()
    assert silent == []
    assert (await client.post("/api/conversations/rest-h/release", headers=auth(staff_tokens["agent"]))).status == 204
    back = await (await client.post("/webhooks/rest/webhook", json={"sender": "rest-h", "message": "你好"})).json()
    assert back and (await (await client.get("/api/handoffs", headers=auth(staff_tokens["agent"]))).json()) == []
