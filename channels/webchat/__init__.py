"""Web chat (网上聊天): a WebSocket endpoint and the embeddable widget, plus Rasa's REST channel.

WebSocket frames are JSON objects. Client → server: {"type": "hello", "session": id|null},
{"type": "message", "text": "..."} (text may be a payload such as "/complain" from a button).
Server → client: {"type": "welcome", "session": id}, {"type": "bot", "text", "buttons", "custom"},
{"type": "agent", ...} (from the desk), {"type": "handoff"}, {"type": "idle"} (the bot has said all it
will say for this turn), {"type": "error", "error", "message"}.
A client that reconnects with its session id continues the same conversation.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
from collections import defaultdict
from pathlib import Path

from aiohttp import WSMsgType, web

from bot.turns import Turn, TurnResult
from cases.db import is_outage
from hotline.logs import log_fields
from hotline.web.keys import METRICS, SERVICES
from hotline.web.responses import json_response

log = logging.getLogger("hotline.webchat")

STATIC = Path(__file__).parent / "static"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_FRAME = 64 * 1024


class ChatHub:
    """Open chat sockets by session, so other parts (the agents' desk) can push to a citizen."""

    def __init__(self):
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        # set by the agents' desk: async (sender_id, text) -> True when a human has the
        # conversation and took the message (the bot then stays silent)
        self.intercept = None

    async def send(self, session: str, message: dict) -> int:
        sent = 0
        for ws in list(self.sockets.get(session, ())):
            if not ws.closed:
                await ws.send_str(json.dumps(message, ensure_ascii=False))
                sent += 1
        return sent


HUB = web.AppKey("chat_hub", ChatHub)


def _engine(request: web.Request):
    return request.app[SERVICES].engine


def _frames(result: TurnResult) -> list[dict]:
    frames = [{"type": "bot", "text": r.text, "buttons": r.buttons, "custom": r.custom} for r in result.replies]
    if result.paused:
        frames.append({"type": "handoff"})
    frames.append({"type": "idle"})
    return frames


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    hub = request.app[HUB]
    session = None
    locale = request.get("locale", "zh")

    async def send(frame: dict) -> None:
        await ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def error(code: str, message: str) -> None:
        await send({"type": "error", "error": code, "message": message})

    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await error("bad_frame", "只接受文本消息。")
                continue
            try:
                frame = json.loads(msg.data)
                kind = frame.get("type") if isinstance(frame, dict) else None
            except (json.JSONDecodeError, AttributeError):
                kind = None
            if kind == "hello":
                wanted = frame.get("session")
                session = wanted if isinstance(wanted, str) and _SESSION.match(wanted) else secrets.token_urlsafe(18)
                hub.sockets[session].add(ws)
                await send({"type": "welcome", "session": session})
            elif kind == "message":
                text = frame.get("text")
                if session is None:
                    await error("no_session", "请先建立会话。")
                elif not isinstance(text, str):
                    await error("bad_frame", "消息内容必须是文字。")
                elif hub.intercept is not None and await hub.intercept(f"webchat-{session}", text):
                    await hub.send(session, {"type": "idle"})
                elif _engine(request) is None:
                    await error("bot_unavailable", "智能客服暂时不可用，请拨打12345或使用网上诉求。")
                else:
                    try:
                        result = await _engine(request).handle(Turn(f"webchat-{session}", "webchat", text,
                                                                    {"locale": locale}))
                    except Exception as exc:
                        if not is_outage(exc):
                            raise
                        # nothing of this turn was kept: the citizen sends it again in a moment
                        log.warning("chat turn failed: database unavailable", extra=log_fields(error=str(exc)[:200]))
                        await error("unavailable", "系统暂时繁忙，您刚才的消息没有收到，请几秒后重新发送。")
                        continue
                    request.app[METRICS].bot_turns.labels("webchat").inc()
                    for f in _frames(result):
                        await hub.send(session, f)  # every tab of this conversation sees the reply
            else:
                await error("bad_frame", "无法识别的消息格式。")
    finally:
        if session:
            hub.sockets[session].discard(ws)
            if not hub.sockets[session]:
                del hub.sockets[session]
    return ws


async def rest_webhook(request: web.Request) -> web.Response:
    """Rasa's REST channel: POST {"sender", "message", "metadata"} → [{"recipient_id", "text", …}]."""
    from hotline.api import read_json
    from cases.intake import InvalidInput

    data = await read_json(request)
    sender, message, metadata = data.get("sender"), data.get("message"), data.get("metadata") or {}
    errors = {}
    if not isinstance(sender, str) or not sender or len(sender) > 128:
        errors["sender"] = ("required", {})
    if not isinstance(message, str):
        errors["message"] = ("required", {})
    if not isinstance(metadata, dict):
        errors["metadata"] = ("not_object", {})
    if errors:
        raise InvalidInput(errors)
    engine = _engine(request)
    if engine is None:
        return json_response({"error": "bot_unavailable", "message": "智能客服暂时不可用。"}, status=503)
    result = await engine.handle(Turn(sender, "rest", message, metadata))
    request.app[METRICS].bot_turns.labels("rest").inc()
    return json_response([r.as_rasa(sender) for r in result.replies])


async def rest_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def setup(app: web.Application) -> None:
    app[HUB] = ChatHub()
    app.router.add_get("/ws/chat", websocket)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_get("/webhooks/rest/", rest_health)
    app.router.add_static("/chat/", STATIC)
