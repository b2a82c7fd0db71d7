"""Web chat (网上聊天): a WebSocket endpoint and the embeddable widget, plus Rasa's REST channel.

WebSocket frames are JSON objects. Client → server: {"type": "hello", "session": id|null},
{"type": "message", "text": "...", "locale"?: "zh"|"en"} (text may be a payload such as "/complain"
from a button; locale: the language this message is in, default the page's).
Server → client: {"type": "welcome", "session": id, "mail": bool}, {"type": "history", "lines": [...]} (right after
welcome: what this conversation said so far, so a page change or a reload keeps its place; empty
for a new one), {"type": "bot", "text", "buttons", "custom"}, {"type": "agent", ...} (from the desk),
{"type": "handoff", "position", "wait_s"} and {"type": "queue", "position", "wait_s", "ack"} (waiting
for a human: place in the queue and an estimate; ack: a message sent while waiting was received),
{"type": "unsupported_locale", "locale", "served"} (the bot does not speak the page's language),
{"type": "idle"} (the bot has said all it will say for this turn), {"type": "error", "error", "message"}.
A client that reconnects with its session id continues the same conversation.

POST /chat/transcript {"session"} gives the conversation as a text file to download;
POST /chat/transcript/email {"session", "email"} mails it (when the gateway sends mail: welcome's "mail").
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import socket
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web

from bot.turns import Turn, TurnResult
from cases.db import is_outage
from cases.handoffs import live_lines, queue_position
from hotline.i18n import LOCALES, translator
from hotline.logs import log_fields
from hotline.ratelimit import Limiter
from hotline.web.keys import METRICS, SERVICES
from hotline.web.responses import json_response

log = logging.getLogger("hotline.webchat")

STATIC = Path(__file__).parent / "static"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_FRAME = 64 * 1024
# a language as a message names it: "en", "zh", "ja", "en-GB" (the part before the dash is the one served)
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
UNSERVED = {"en": "Sorry, the online assistant does not speak English yet: it answers in Chinese only. "
                  "You can submit a request in English on the website or call 12345.",
            "zh": "抱歉，智能客服暂不支持中文服务，请拨打12345。"}
# for a language the gateway has no words in: both of its own
UNSERVED_OTHER = ("Sorry, the online assistant does not speak this language: it answers in Chinese and English. "
                  "抱歉，智能客服暂不支持该语言，请使用中文或英文。")


def message_locale(value, default: str) -> str:
    """The language a message says it is in ("en-GB" is "en"); `default` where it names none.
    A language the bot does not serve is kept, so the channel can say so."""
    if isinstance(value, str) and _LOCALE.match(value):
        return re.split(r"[-_]", value)[0].lower()
    return default


class ChatHub:
    """Open chat sockets by session, so other parts (the agents' desk) can push to a citizen."""

    def __init__(self):
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        # set by the agents' desk: async (sender_id, text) -> True when a human has the
        # conversation and took the message (the bot then stays silent)
        self.intercept = None

    async def send(self, session: str, *frames: dict) -> int:
        """`frames` to every open tab of `session`; how many tabs got them."""
        texts = [json.dumps(frame, ensure_ascii=False) for frame in frames]
        sent = 0
        for ws in list(self.sockets.get(session, ())):
            if not ws.closed:
                with corked(ws, len(texts) > 1):
                    for text in texts:
                        await ws.send_str(text)
                sent += 1
        return sent


@contextlib.contextmanager
def corked(ws: web.WebSocketResponse, wanted: bool = True):
    """A turn's frames (the bot's lines, then "idle") leave in one TCP segment instead of one
    each: the citizen's browser wakes once, and on a busy gateway each segment costs a system call's
    worth of work on both sides (TCP_CORK, Linux; elsewhere the frames go as they are)."""
    sock = ws.get_extra_info("socket") if wanted and _CORK is not None else None
    try:
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1)
    except OSError:
        sock = None
    try:
        yield
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _CORK, 0)  # uncorked: sent now


_CORK = getattr(socket, "TCP_CORK", None)


HUB = web.AppKey("chat_hub", ChatHub)


def _engine(request: web.Request):
    return request.app[SERVICES].engine


def _frames(result: TurnResult, queue: dict | None = None) -> list[dict]:
    frames = [{"type": "bot", "text": r.text, "buttons": r.buttons, "custom": r.custom} for r in result.replies]
    if result.paused:
        frames.append({"type": "handoff", **(queue or {})})
    frames.append({"type": "idle"})
    return frames


def served_locales(engine) -> tuple[str, ...]:
    """The languages the loaded bot answers in (an engine without the attribute: Chinese only)."""
    return tuple(getattr(engine, "locales", None) or ("zh",))


async def history(request: web.Request, session: str) -> list[dict]:
    """The conversation so far as the citizen saw it: the bot's part from Rasa's tracker (its current
    session only: an expired conversation starts afresh) and what agents said, in time order."""
    services = request.app[SERVICES]
    sender = f"webchat-{session}"
    lines: list[dict] = []
    engine = services.engine
    if engine is not None:
        last = await engine.last_event_at(sender)
        if last is not None and not engine.session_expired(last):
            lines = await engine.transcript(sender, current_session=True)
    live = await live_lines(services.db, sender)
    if not lines and not live:
        return []
    lines = [*lines, *({"from": line.get("from"), "text": line.get("text"), "at": line.get("at"),
                        "agent_no": line.get("agent_no")} for line in live)]
    lines.sort(key=_when)
    for line in lines[:-1]:  # only the last message's buttons can still be answered
        line.pop("buttons", None)
    return lines


_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def _when(line: dict) -> datetime:
    try:
        return datetime.fromisoformat(line["at"]) if line.get("at") else _EARLIEST
    except ValueError:
        return _EARLIEST


async def queue_info(request: web.Request, session: str) -> dict | None:
    return await queue_position(request.app[SERVICES].db, f"webchat-{session}")


def transcript_text(lines: list[dict], tz: str, locale: str = "zh") -> str:
    """A plain-text transcript a citizen keeps (who, local time, words)."""
    zone = ZoneInfo(tz)
    who = {"zh": {"citizen": "我", "bot": "智能客服", "agent": "人工客服"},
           "en": {"citizen": "Me", "bot": "Assistant", "agent": "Agent"}}[locale if locale == "en" else "zh"]
    title = "12345 online service: chat transcript" if locale == "en" else "12345政务服务便民热线 在线客服聊天记录"
    out = [title, ""]
    for line in lines:
        at = ""
        if line.get("at"):
            try:
                at = datetime.fromisoformat(line["at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") + " "
            except ValueError:
                pass
        name = who.get(line.get("from"), line.get("from") or "")
        if line.get("from") == "agent" and line.get("agent_no"):
            name += f" {line['agent_no']}"
        out.append(f"{at}{name}：{line.get('text') or ''}")
    return "\n".join(out) + "\n"


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    hub = request.app[HUB]
    session = None
    locale = request.get("locale") if request.get("locale") in LOCALES else "zh"  # the page's

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
                known = isinstance(wanted, str) and bool(_SESSION.match(wanted))
                session = wanted if known else secrets.token_urlsafe(18)
                hub.sockets[session].add(ws)
                await send({"type": "welcome", "session": session, "mail": mail_on(request.app[SERVICES].settings)})
                await send({"type": "history", "lines": await history(request, session) if known else []})
                waiting = await queue_info(request, session) if known else None
                if waiting:
                    await send({"type": "queue", **waiting})
            elif kind == "message":
                text = frame.get("text")
                said_in = message_locale(frame.get("locale"), locale)
                if session is None:
                    await error("no_session", "请先建立会话。")
                elif not isinstance(text, str):
                    await error("bad_frame", "消息内容必须是文字。")
                elif hub.intercept is not None and await hub.intercept(f"webchat-{session}", text):
                    waiting = await queue_info(request, session)
                    # nobody has the chat yet: the citizen is told the message is not lost
                    await hub.send(session, *([{"type": "queue", **waiting, "ack": True}] if waiting else []),
                                   {"type": "idle"})
                elif _engine(request) is None:
                    await error("bot_unavailable", "智能客服暂时不可用，请拨打12345或使用网上诉求。")
                elif said_in not in served_locales(_engine(request)):
                    # never an answer in another language than the citizen's: say so, offer the others
                    await send({"type": "unsupported_locale", "locale": said_in,
                                "served": list(served_locales(_engine(request)))})
                    await send({"type": "idle"})
                else:
                    try:
                        result = await _engine(request).handle(Turn(f"webchat-{session}", "webchat", text,
                                                                    {"locale": said_in}))
                    except Exception as exc:
                        if not is_outage(exc):
                            raise
                        # nothing of this turn was kept: the citizen sends it again in a moment
                        log.warning("chat turn failed: database unavailable", extra=log_fields(error=str(exc)[:200]))
                        await error("unavailable", "系统暂时繁忙，您刚才的消息没有收到，请几秒后重新发送。")
                        continue
                    request.app[METRICS].bot_turns.labels("webchat").inc()
                    waiting = await queue_info(request, session) if result.paused else None
                    await hub.send(session, *_frames(result, waiting))  # every tab of this conversation sees the reply
            else:
                await error("bad_frame", "无法识别的消息格式。")
    finally:
        if session:
            hub.sockets[session].discard(ws)
            if not hub.sockets[session]:
                del hub.sockets[session]
    return ws


OTHER_CHANNELS = ("webchat-", "voice-")  # sender ids the widget and the phone give their conversations


async def rest_webhook(request: web.Request) -> web.Response:
    """Rasa's REST channel: POST {"sender", "message", "metadata"} → [{"recipient_id", "text", …}]."""
    from hotline.api import read_json
    from cases.intake import InvalidInput

    data = await read_json(request)
    sender, message, metadata = data.get("sender"), data.get("message"), data.get("metadata") or {}
    errors = {}
    if not isinstance(sender, str) or not sender or len(sender) > 128:
        errors["sender"] = ("required", {})
    elif sender.startswith(OTHER_CHANNELS):
        # another channel's conversation (its id known or guessed) would let this client read its
        # replies and use what that conversation has proved (the cases it filed or looked up)
        errors["sender"] = ("reserved_sender", {})
    if not isinstance(message, str):
        errors["message"] = ("required", {})
    if not isinstance(metadata, dict):
        errors["metadata"] = ("not_object", {})
    elif metadata.get("locale") is not None and not message_locale(metadata["locale"], ""):
        errors["locale"] = ("choice", {})  # a language code ("zh", "en"), or none
    if errors:
        raise InvalidInput(errors)
    engine = _engine(request)
    if engine is None:
        return json_response({"error": "bot_unavailable", "message": "智能客服暂时不可用。"}, status=503)
    wanted = message_locale(metadata.get("locale"), "")
    locale = wanted or request.get("locale", "zh")
    hub = request.app.get(HUB)
    if hub is not None and hub.intercept is not None and await hub.intercept(sender, message):
        # a human is asked for or has the conversation (as in the widget): the line is kept for the
        # agent, whatever its language, and the bot stays silent
        waiting = await queue_position(request.app[SERVICES].db, sender)
        return json_response([queue_reply(sender, waiting, locale, ack=True)] if waiting else [])
    if wanted and wanted not in served_locales(engine):
        # the caller's language is not served: say so (in it where we can), never answer in another
        return json_response([{"recipient_id": sender, "text": UNSERVED.get(wanted, UNSERVED_OTHER),
                               "custom": {"unsupported_locale": wanted, "served": list(served_locales(engine))}}])
    if wanted:
        metadata = {**metadata, "locale": wanted}
    result = await engine.handle(Turn(sender, "rest", message, metadata))
    request.app[METRICS].bot_turns.labels("rest").inc()
    replies = [r.as_rasa(sender) for r in result.replies]
    waiting = await queue_position(request.app[SERVICES].db, sender) if result.paused else None
    if waiting:
        replies.append(queue_reply(sender, waiting, locale))
    return json_response(replies)


def queue_reply(sender: str, waiting: dict, locale: str, *, ack: bool = False) -> dict:
    """What the widget's queue line says, as a REST reply: the words, and in `custom.queue` the place
    (1 = next) and the estimated wait in seconds for a client that draws its own."""
    t = translator(locale)
    position, minutes = waiting["position"], max(1, -(-waiting["wait_s"] // 60))
    text = (t("chat.queue_next", minutes=minutes) if position <= 1
            else t("chat.queue_behind", ahead=position - 1, minutes=minutes))
    if ack:
        text = t("chat.queue_ack") + ("" if locale == "zh" else " ") + text
    return {"recipient_id": sender, "text": text, "custom": {"queue": {**waiting, "ack": ack}}}


async def download_transcript(request: web.Request) -> web.Response:
    """The conversation as a text file. The session id (kept in the citizen's browser) is the key:
    it comes in a POST body, never in a URL that logs or the browser's history keep."""
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    session = data.get("session") if isinstance(data, dict) else None
    if not isinstance(session, str) or not _SESSION.match(session):
        return json_response({"error": "invalid", "errors": {"session": "会话编号无效。"}}, status=400)
    lines = await history(request, session)
    if not lines:
        return json_response({"error": "not_found", "message": "没有找到这次会话的聊天记录。"}, status=404)
    services = request.app[SERVICES]
    text = transcript_text(lines, services.settings.timezone, request.get("locale", "zh"))
    day = datetime.now(ZoneInfo(services.settings.timezone)).strftime("%Y%m%d")
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="12345-chat-{day}.txt"', "Cache-Control": "no-store"})


MAILS_PER_SESSION = (3, 3600.0)  # a transcript mailed at most 3 times an hour per conversation
MAILS = web.AppKey("chat_transcript_mails", Limiter)


def mail_on(settings) -> bool:
    from channels.email import mail_configured

    return mail_configured(settings) and "@" in (settings.mail_from or "")


async def email_transcript(request: web.Request) -> web.Response:
    """Mail the conversation to the address the citizen typed (through the hotline's outbox, so it
    is sent once the SMTP server takes it); limited per conversation so it relays nothing."""
    from cases.intake import _EMAIL
    from cases.mailbox import MailLedger
    from channels.email.compose import Composer

    services = request.app[SERVICES]
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    data = data if isinstance(data, dict) else {}
    session, email = data.get("session"), str(data.get("email") or "").strip()
    errors = {}
    if not isinstance(session, str) or not _SESSION.match(session):
        errors["session"] = "会话编号无效。"
    if not _EMAIL.match(email):
        errors["email"] = "请填写正确的电子邮箱地址。"
    if errors:
        return json_response({"error": "invalid", "errors": errors}, status=400)
    if not mail_on(services.settings):
        return json_response({"error": "mail_off", "message": "暂不提供邮件发送，请下载聊天记录。"}, status=503)
    lines = await history(request, session)
    if not lines:
        return json_response({"error": "not_found", "message": "没有找到这次会话的聊天记录。"}, status=404)
    wait = await request.app[MAILS].hit(session)
    if wait:
        return json_response({"error": "too_many", "message": "发送过于频繁，请稍后再试。"}, status=429,
                             headers={"Retry-After": str(int(wait) + 1)})
    s = services.settings
    locale = request.get("locale", "zh")
    subject = "12345 online service: your chat transcript" if locale == "en" else "12345政务服务便民热线：您的在线客服聊天记录"
    out = Composer(s.mail_from, s.base_url, s.timezone).build(
        to=email, subject=subject, text=transcript_text(lines, s.timezone, locale), thread=None,
        purpose="transcript", case_id=None, locale=locale)
    await MailLedger(services.db).queue(out)
    return json_response({"ok": True}, status=202)


async def rest_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def setup(app: web.Application) -> None:
    app[HUB] = ChatHub()
    services = app[SERVICES]
    app[MAILS] = Limiter("transcript-mail", *MAILS_PER_SESSION, getattr(services, "redis", None),
                         prefix=services.settings.redis_prefix)
    app.router.add_get("/ws/chat", websocket)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_get("/webhooks/rest/", rest_health)
    app.router.add_post("/chat/transcript", download_transcript)
    app.router.add_post("/chat/transcript/email", email_transcript)
    app.router.add_static("/chat/", STATIC)
