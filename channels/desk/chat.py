"""Live hand-off at the desk: the queue, taking a conversation, talking, handing back or ending,
transferring, canned replies, and the desk's own WebSocket for updates without reloading."""
from __future__ import annotations

import json
import re

from aiohttp import WSMsgType, web
from sqlalchemy import delete, or_, select

from cases.conversations import ConversationLog
from cases.handoffs import AlreadyTaken
from cases.intake import clean_text
from cases.models import CannedReply, Handoff, User
from cases.workflow import CHANNEL_LABELS, KIND_LABELS, Role, label
from hotline.i18n import translator
from hotline.web.keys import SERVICES
from hotline.web.responses import json_response

from .auth import require_role
from .live import LIVE, DeskSocket
from .pages import render

A, S, ADM = Role.AGENT, Role.SUPERVISOR, Role.ADMIN
WATCH = (S, ADM)
MAX_MESSAGE = 2000


def _watcher(user: User) -> bool:
    return Role(user.role) in WATCH


SUMMARY_SLOTS = ("case_kind", "case_description", "case_location", "case_happened", "contact_name",
                 "contact_phone", "case_number")
_SHORTCUT = re.compile(r"^/\S+$")


def summary_view(handoff: Handoff, conv, locale: str) -> dict:
    """What the agent reads instead of the bot's internals: the citizen's own words, what the bot
    had gathered (in words), the cases of this conversation and the phone the citizen gave."""
    t = translator(locale)
    summary = handoff.summary or {}
    slots = summary.get("slots") or {}
    facts = []
    for name in SUMMARY_SLOTS:
        value = slots.get(name)
        if value in (None, "", "none"):
            continue
        if name == "case_kind":
            value = label(KIND_LABELS, value, locale)
        facts.append((t(f"desk.live.slot_{name}"), str(value)))
    if summary.get("language", "zh") != "zh":  # the citizen chatted in another language: answer in it
        facts.insert(0, (t("desk.live.slot_language"), t(f"desk.admin.locale_{summary['language']}")))
    numbers = list(conv.case_numbers or []) if conv is not None else []
    if slots.get("last_case_number") and slots["last_case_number"] not in numbers:
        numbers.append(slots["last_case_number"])
    caller = conv.caller if conv is not None else ""
    phone = caller if caller and "@" not in caller else (summary.get("phone") or "")
    return {"asked": [str(x) for x in summary.get("asked") or []], "facts": facts, "cases": numbers,
            "phone": phone, "email": caller if "@" in (caller or "") else ""}


async def _items(request: web.Request) -> list[dict]:
    user, locale = request["user"], request["locale"]
    out = []
    for item in await request.app[LIVE].handoffs.open_items():
        h = item.handoff
        mine = h.taken_by == user.id
        if h.taken_by and not mine and not _watcher(user):
            continue  # agents see what waits and what they hold; supervisors see everything
        last = next((line.get("text") for line in reversed(h.transcript or []) if line.get("from") == "citizen"
                     and not str(line.get("text") or "").startswith("/")), "")
        view = summary_view(h, item.conversation, locale)
        out.append({"id": h.id, "conversation": h.conversation_id, "channel": label(CHANNEL_LABELS, h.channel, locale),
                    "reason": h.reason, "facts": view["facts"], "asked": view["asked"],
                    "caller": view["phone"] or view["email"], "last": last,
                    "requested_at": h.requested_at, "agent": item.agent, "mine": mine})
    return out


@require_role(A, S, ADM)
async def queue_page(request: web.Request) -> web.Response:
    context = {"items": await _items(request), "active": "live"}
    template = "desk_live_items.html" if request.query.get("fragment") else "desk_live.html"
    return render(request, template, context)


async def _take(request: web.Request, take_over: bool) -> web.Response:
    live, user = request.app[LIVE], request["user"]
    try:
        handoff_id = int(request.match_info["handoff"])
    except ValueError:
        raise web.HTTPNotFound() from None
    t = translator(request["locale"])
    try:
        handoff = await live.handoffs.take(handoff_id, user, take_over=take_over)
    except AlreadyTaken:
        return render(request, "desk_live.html", {"items": await _items(request), "active": "live",
                                                  "flash": t("desk.live.already_taken"), "flash_kind": "error"},
                      status=409)
    conv = handoff.conversation_id
    await live.publish({"t": "live", "conversation": conv, "holder": user.id})
    agent_no = user.agent_no or user.username
    greeting = t("desk.live.greeting", agent_no=agent_no) if not take_over else t("desk.live.greeting_again",
                                                                                   agent_no=agent_no)
    await live.agent_message(conv, greeting, agent_no)
    raise web.HTTPFound(f"/desk/live/chat/{conv}")


@require_role(A, S, ADM)
async def take(request: web.Request) -> web.Response:
    return await _take(request, take_over=False)


@require_role(S, ADM)
async def take_over(request: web.Request) -> web.Response:
    return await _take(request, take_over=True)


async def _open_handoff(request: web.Request, *, holder_only: bool) -> Handoff:
    conv = request.match_info["conversation"]
    handoff = await request.app[LIVE].handoffs.open_for(conv)
    if handoff is None:
        raise web.HTTPNotFound()
    user = request["user"]
    if handoff.taken_by != user.id and (holder_only or not _watcher(user)):
        raise web.HTTPForbidden()
    return handoff


async def _canned(request: web.Request) -> list[CannedReply]:
    user = request["user"]
    async with request.app[SERVICES].db.read() as s:
        return list((await s.execute(select(CannedReply).where(
            or_(CannedReply.user_id == user.id, CannedReply.user_id.is_(None)))
            .order_by(CannedReply.shortcut))).scalars())


@require_role(A, S, ADM)
async def chat_page(request: web.Request) -> web.Response:
    handoff = await _open_handoff(request, holder_only=False)
    services = request.app[SERVICES]
    conv = await ConversationLog(services.db).get(handoff.conversation_id)
    summary = summary_view(handoff, conv, request["locale"])
    caller = summary["phone"] or summary["email"]
    # 来电历史 by the phone the citizen gave in this chat, when the channel itself has no number
    history = await services.store.cases_for_phone(summary["phone"]) if summary["phone"] else []
    async with services.db.read() as s:
        colleagues = list((await s.execute(select(User).where(
            User.active.is_(True), User.role.in_([A.value, S.value]), User.id != request["user"].id)
            .order_by(User.username))).scalars())
    from .transfers import transfer_context

    return render(request, "desk_chat.html", {
        **await transfer_context(request.app, request["user"], None),
        "handoff": handoff, "caller": caller, "history": history, "canned": await _canned(request),
        "summary": summary,
        "colleagues": colleagues, "mine": handoff.taken_by == request["user"].id, "active": "live",
        "channel_label": label(CHANNEL_LABELS, handoff.channel, request["locale"])})


@require_role(A, S, ADM)
async def send_message(request: web.Request) -> web.Response:
    handoff = await _open_handoff(request, holder_only=True)
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    text = clean_text(data.get("text") if isinstance(data, dict) else None, multiline=True)
    if not text or len(text) > MAX_MESSAGE:
        return json_response({"error": "invalid", "errors": {"text": translator(request["locale"])(
            "desk.live.bad_message", max=MAX_MESSAGE)}}, status=400)
    user = request["user"]
    if _SHORTCUT.match(text):
        # a shortcut is never sent to the citizen as it is: its reply, or a clear word to the agent
        reply = next((c.text for c in await _canned(request) if c.shortcut == text), None)
        if reply is None:
            return json_response({"error": "unknown_shortcut", "errors": {"text": translator(request["locale"])(
                "desk.live.unknown_shortcut", shortcut=text)}}, status=400)
        text = reply
    await request.app[LIVE].agent_message(handoff.conversation_id, text, user.agent_no or user.username)
    return json_response({"ok": True, "text": text}, status=201)


@require_role(A, S, ADM)
async def canned_list(request: web.Request) -> web.Response:
    """The agent's canned replies (own and shared), for the chat page to refresh without reloading."""
    return json_response({"canned": [{"shortcut": c.shortcut, "text": c.text} for c in await _canned(request)]})


async def release_conversation(app: web.Application, conversation_id: str, *, ended: bool, locale: str = "zh") -> None:
    """Give the conversation back to the bot (or end it) and ask the citizen to rate the service."""
    from bot.actions.conversation import rating_buttons

    services, live = app[SERVICES], app[LIVE]
    t = translator(locale)
    closing = t("desk.live.ended_text") if ended else t("desk.live.back_text")
    await live.publish({"t": "to_citizen", "conversation": conversation_id, "frame": {"type": "agent", "text": closing}})
    if services.engine is not None:
        await services.engine.resume(conversation_id)  # releases the hand-off, the bot listens again
    else:
        await ConversationLog(services.db).release(conversation_id)
        await live.on_bot_event("handoff_released", {"conversation": conversation_id})
    if ended:
        await live.handoffs.mark_ended(conversation_id)
    await live.publish({"t": "to_citizen", "conversation": conversation_id,
                        "frame": {"type": "bot", "text": t("desk.live.rate_question"), "buttons": rating_buttons(locale)}})


@require_role(A, S, ADM)
async def release(request: web.Request) -> web.Response:
    handoff = await _open_handoff(request, holder_only=True)
    form = await request.post()
    await release_conversation(request.app, handoff.conversation_id, ended=form.get("mode") == "end",
                               locale=(handoff.summary or {}).get("language") or "zh")  # the citizen's
    raise web.HTTPFound("/desk/live")


@require_role(A, S, ADM)
async def transfer(request: web.Request) -> web.Response:
    handoff = await _open_handoff(request, holder_only=True)
    form = await request.post()
    services, live = request.app[SERVICES], request.app[LIVE]
    try:
        to_id = int(form.get("to_user", ""))
    except ValueError:
        raise web.HTTPBadRequest() from None
    async with services.db.read() as s:
        target = await s.get(User, to_id)
    if target is None or not target.active or Role(target.role) not in (A, S):
        raise web.HTTPBadRequest()
    try:
        await live.handoffs.transfer(handoff.id, request["user"], target)
    except AlreadyTaken:
        raise web.HTTPConflict() from None
    await live.publish({"t": "live", "conversation": handoff.conversation_id, "holder": target.id})
    t = translator("zh")
    await live.agent_message(handoff.conversation_id,
                             t("desk.live.greeting_again", agent_no=target.agent_no or target.username),
                             target.agent_no or target.username)
    raise web.HTTPFound("/desk/live")


# ---- canned replies -------------------------------------------------------------------------------
@require_role(A, S, ADM)
async def canned_page(request: web.Request) -> web.Response:
    return render(request, "desk_canned.html", {"canned": await _canned(request), "active": "canned",
                                                "errors": {}})


@require_role(A, S, ADM)
async def canned_add(request: web.Request) -> web.Response:
    form = await request.post()
    user = request["user"]
    shortcut = clean_text(form.get("shortcut", ""))[:32]
    text = clean_text(form.get("text", ""), multiline=True)[:MAX_MESSAGE]
    shared = form.get("shared") == "1" and Role(user.role) in WATCH
    t = translator(request["locale"])
    errors = {}
    if not shortcut.startswith("/") or len(shortcut) < 2 or " " in shortcut:
        errors["shortcut"] = t("desk.canned.bad_shortcut")
    if not text:
        errors["text"] = t("errors.required", field=t("desk.canned.text"))
    if errors:
        return render(request, "desk_canned.html", {"canned": await _canned(request), "active": "canned",
                                                    "errors": errors}, status=400)
    async with request.app[SERVICES].db.write() as s:
        s.add(CannedReply(user_id=None if shared else user.id, shortcut=shortcut, text=text))
    await request.app[LIVE].publish({"t": "canned"})  # open chat pages refresh their list
    raise web.HTTPFound("/desk/canned")


@require_role(A, S, ADM)
async def canned_delete(request: web.Request) -> web.Response:
    user = request["user"]
    condition = CannedReply.user_id == user.id
    if Role(user.role) in WATCH:
        condition = or_(condition, CannedReply.user_id.is_(None))
    async with request.app[SERVICES].db.write() as s:
        await s.execute(delete(CannedReply).where(CannedReply.id == int(request.match_info["id"]), condition))
    await request.app[LIVE].publish({"t": "canned"})
    raise web.HTTPFound("/desk/canned")


# ---- the desk's WebSocket ----------------------------------------------------------------------------
@require_role()
async def desk_socket(request: web.Request) -> web.WebSocketResponse:
    origin = request.headers.get("Origin")
    if origin and origin.split("://", 1)[-1] != request.host:
        raise web.HTTPForbidden()  # another site's page may not open a socket with our cookie
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    live = request.app[LIVE]
    entry = DeskSocket(ws, request["user"].id, request["user"].role)
    await live.socket_opened(entry)  # an agent with the desk open is on duty for the chats
    try:
        await ws.send_str(json.dumps({"type": "hello", "user": entry.user_id}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str('{"type": "pong"}')
    finally:
        live.socket_closed(entry)
    return ws


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/desk/live", queue_page)
    r.add_post("/desk/live/{handoff:\\d+}/take", take)
    r.add_post("/desk/live/{handoff:\\d+}/takeover", take_over)
    r.add_get("/desk/live/chat/{conversation}", chat_page)
    r.add_post("/desk/api/live/{conversation}/messages", send_message)
    r.add_post("/desk/live/chat/{conversation}/release", release)
    r.add_post("/desk/live/chat/{conversation}/transfer", transfer)
    r.add_get("/desk/canned", canned_page)
    r.add_post("/desk/canned", canned_add)
    r.add_post("/desk/canned/{id:\\d+}/delete", canned_delete)
    r.add_get("/desk/api/canned", canned_list)
    r.add_get("/desk/ws", desk_socket)
