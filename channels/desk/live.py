"""Live updates for the desk: one bus, the desk's WebSockets, and the link to the citizens' chats.

Everything that must reach a screen goes through `LiveDesk.publish()`. With `redis_url` set the
message goes through Redis pub/sub, so every gateway process receives it and delivers it to the
sockets it holds (a desk may be connected to one process and the citizen's chat to another);
without Redis it is delivered in this process directly.

Bus messages (JSON objects, field "t"):
  queue       the hand-off queue changed                    → every desk socket
  line        a line of a live chat (citizen or agent)       → its holder and supervisors/admins
  to_citizen  a frame for a citizen's chat widget            → the process holding that chat
  live        a conversation's holder changed (None: waiting; "gone": released)
  reminder    a reminder became due                          → the named user, supervisors
  canned      the canned replies changed                     → every desk socket (chat pages refetch)
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from cases.handoffs import HandoffDesk, queue_position
from cases.models import utcnow
from cases.workflow import Role
from hotline.shared import DEFAULT_REDIS_PREFIX

log = logging.getLogger("hotline.desk")
WATCHERS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
# on duty for the chats: an agent or a supervisor with a desk page open (its socket). A page
# reloading or reconnecting keeps them on duty this long; with Redis, each process tells the others
# it has someone on duty (<prefix>desk:duty, a sorted set of processes by expiry) this often.
ON_DUTY = frozenset({Role.AGENT.value, Role.SUPERVISOR.value})
DUTY_GRACE_S = 60.0
DUTY_BEAT_S = 15.0
DUTY_CHECK_S = 0.5


def webchat_session(conversation_id: str) -> str | None:
    return conversation_id[len("webchat-"):] if conversation_id.startswith("webchat-") else None


@dataclass(eq=False)  # kept in a set: identity is the socket
class DeskSocket:
    ws: web.WebSocketResponse
    user_id: int
    role: str


@dataclass
class LiveDesk:
    handoffs: HandoffDesk
    hub: object | None = None           # channels.webchat.ChatHub, to push frames to citizens
    redis_url: str = ""
    redis_prefix: str = DEFAULT_REDIS_PREFIX  # the bus is the channel <prefix>desk
    sockets: set = field(default_factory=set)
    # conversations with an open hand-off → the user id holding it (None while waiting)
    live: dict = field(default_factory=dict)
    _redis: object = None
    _listener: asyncio.Task | None = None
    subscribed: asyncio.Event | None = None  # set while the Redis bus is subscribed
    # lines waiting to be kept: written together, one transaction per round (see keep())
    _pending: dict = field(default_factory=dict)
    _wake: asyncio.Event | None = None
    _writer: asyncio.Task | None = None
    _duty_until: float = 0.0            # (monotonic) until then the last on-duty socket closed here still counts
    _duty_beat: asyncio.Task | None = None
    _token: str = field(default_factory=lambda: uuid.uuid4().hex)  # this process, in the duty set

    @property
    def channel(self) -> str:
        return f"{self.redis_prefix}desk"

    @property
    def duty_key(self) -> str:
        return f"{self.redis_prefix}desk:duty"

    # ---- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_lines())
        self.subscribed = asyncio.Event()
        await self._resync()
        if self.redis_url:
            from hotline.shared import redis_client

            self._redis = redis_client(self.redis_url, self.redis_prefix)  # publishing: retried on a fresh connection
            self._listener = asyncio.create_task(self._listen())
            self._duty_beat = asyncio.create_task(self._beat())
            try:  # what is published from now on reaches this process
                await asyncio.wait_for(self.subscribed.wait(), 5.0)
            except asyncio.TimeoutError:
                log.warning("desk bus: Redis not reachable yet; live updates start when it is")

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
        if self._duty_beat:
            self._duty_beat.cancel()
            with contextlib.suppress(Exception):  # this process's agents leave with it
                await self._redis.zrem(self.duty_key, self._token)
        if self._writer:
            self._writer.cancel()
            if self._pending:  # what was said last is kept too
                await self._flush()
        if self._redis is not None:
            await self._redis.close()
        for s in list(self.sockets):
            await s.ws.close()

    async def _resync(self) -> None:
        """Who holds which conversation, from the database: at start, and after the bus was away
        (messages published meanwhile were not received); open desks are told to look again."""
        self.live = {item.handoff.conversation_id: item.handoff.taken_by
                     for item in await self.handoffs.open_items()}
        await self._to_desks({"type": "queue"}, lambda s: True)

    async def _listen(self) -> None:
        """Subscribed to the bus for as long as the gateway runs: a connection that drops (CLIENT
        KILL, Redis restarted) is made again, with a resync for what was missed."""
        import redis.asyncio as aioredis

        from hotline.shared import client_name

        pause, first = 0.05, True
        while True:
            # its own client without retries: a dropped subscription must surface here, to resync
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=2,
                                       client_name=client_name(self.redis_prefix))
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if not first:
                    await self._resync()
                    log.info("desk bus: subscribed again")
                first, pause = False, 0.05
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            await self.deliver(json.loads(message["data"]))
                        except Exception:  # one bad message must not stop the desk's updates
                            log.exception("desk bus message failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("desk bus: subscription lost, subscribing again", extra={"fields": {"error": str(exc)}})
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.close()
                with contextlib.suppress(Exception):
                    await client.close()

    # ---- the bus ------------------------------------------------------------------------------
    async def publish(self, message: dict) -> None:
        message.setdefault("sent", time.time())
        if self._redis is not None:
            try:
                await self._redis.publish(self.channel, json.dumps(message, ensure_ascii=False))
                return
            except Exception as exc:  # Redis gone: this process's screens at least are told
                log.warning("desk bus unavailable: delivered in this process only", extra={"fields": {"error": str(exc)}})
        await self.deliver(message)

    async def deliver(self, message: dict) -> None:
        """Act on one bus message in this process."""
        kind = message.get("t")
        if kind == "live":
            holder = message.get("holder")
            if holder == "gone":
                self.live.pop(message["conversation"], None)
            else:
                self.live[message["conversation"]] = holder
            await self._to_desks({"type": "queue"}, lambda s: True)
            await self._tell_waiting()
        elif kind == "queue":
            await self._to_desks({"type": "queue"}, lambda s: True)
        elif kind == "canned":
            await self._to_desks({"type": "canned"}, lambda s: True)
        elif kind == "line":
            holder = self.live.get(message["conversation"])
            frame = {"type": "line", **{k: message[k] for k in ("conversation", "from", "text", "sent")},
                     "agent_no": message.get("agent_no")}
            await self._to_desks(frame, lambda s: s.user_id == holder or s.role in WATCHERS)
        elif kind == "to_citizen":
            session = webchat_session(message["conversation"])
            if session and self.hub is not None:
                await self.hub.send(session, message["frame"])
        elif kind == "reminder":
            await self._to_desks({"type": "reminder", "case": message.get("case"), "text": message.get("text")},
                                 lambda s: s.user_id == message.get("user_id") or s.role in WATCHERS)

    async def _tell_waiting(self) -> None:
        """The queue moved: every citizen still waiting whose chat this process holds hears their
        new place and wait (the same figures the chat shows when the hand-off begins)."""
        if self.hub is None:
            return
        for conversation, holder in list(self.live.items()):
            session = webchat_session(conversation)
            if holder is None and session and self.hub.sockets.get(session):
                place = await queue_position(self.handoffs.db, conversation)
                if place:
                    await self.hub.send(session, {"type": "queue", **place})

    async def _to_desks(self, frame: dict, wanted) -> None:
        data = json.dumps(frame, ensure_ascii=False)
        for s in list(self.sockets):
            if wanted(s) and not s.ws.closed:
                try:
                    await s.ws.send_str(data)
                except ConnectionError:
                    self.sockets.discard(s)

    # ---- keeping what was said ----------------------------------------------------------------
    async def keep(self, conversation_id: str, line: dict) -> None:
        """Store a line with the open hand-off; returns once it is committed. Lines that arrive
        while a write runs go together into the next one, so 100 busy chats cost a few
        transactions a second, not one per line."""
        line = {**line, "at": utcnow().isoformat()}  # when it was said, not when it was written
        if self._writer is None:
            await self.handoffs.append(conversation_id, line)
            return
        done = asyncio.get_running_loop().create_future()
        self._pending.setdefault(conversation_id, []).append((line, done))
        self._wake.set()
        await done

    async def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        try:
            await self.handoffs.append_many({conv: [line for line, _ in items] for conv, items in batch.items()})
        except Exception as exc:  # every waiter hears of it (nothing is silently dropped)
            for items in batch.values():
                for _, done in items:
                    if not done.done():
                        done.set_exception(exc)
            return
        for items in batch.values():
            for _, done in items:
                if not done.done():
                    done.set_result(None)

    async def _write_lines(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                await self._flush()

    # ---- who is on duty ------------------------------------------------------------------------------
    async def socket_opened(self, entry: DeskSocket) -> None:
        self.sockets.add(entry)
        if entry.role in ON_DUTY and self._redis is not None:
            await self._tell_duty()  # at once: a citizen on another process may be asking now

    def socket_closed(self, entry: DeskSocket) -> None:
        self.sockets.discard(entry)
        if entry.role in ON_DUTY:
            self._duty_until = time.monotonic() + DUTY_GRACE_S

    def on_duty_here(self) -> bool:
        return time.monotonic() < self._duty_until or \
            any(s.role in ON_DUTY and not s.ws.closed for s in self.sockets)

    async def anyone_on_duty(self) -> bool | None:
        """Is an agent or supervisor on duty in any gateway process? None: not known (Redis away)."""
        if self.on_duty_here():
            return True
        if self._redis is None:
            return False
        try:
            # a citizen's turn waits for this: not for Redis's retries when it is away
            return await asyncio.wait_for(self._redis.zcount(self.duty_key, time.time(), "+inf"), DUTY_CHECK_S) > 0
        except Exception as exc:
            log.warning("desk duty unknown: Redis unavailable", extra={"fields": {"error": str(exc)[:200]}})
            return None

    async def _tell_duty(self) -> None:
        try:
            await asyncio.wait_for(self._redis.zadd(self.duty_key, {self._token: time.time() + DUTY_GRACE_S}),
                                   DUTY_GRACE_S / 4)
        except Exception as exc:  # told at the next beat
            log.warning("desk duty not shared: Redis unavailable", extra={"fields": {"error": str(exc)[:200]}})

    async def _beat(self) -> None:
        while True:
            if self.on_duty_here():
                await self._tell_duty()
            with contextlib.suppress(Exception):  # processes gone without leaving
                await self._redis.zremrangebyscore(self.duty_key, "-inf", time.time())
            await asyncio.sleep(DUTY_BEAT_S)

    # ---- what the bot and the chat channel report ------------------------------------------------
    async def on_bot_event(self, event: str, payload: dict) -> None:
        """Runtime listener: the bot asked for a human, or a conversation went back to it."""
        conversation = payload.get("conversation")
        if event == "handoff_requested" and conversation:
            await self.publish({"t": "live", "conversation": conversation, "holder": None})
        elif event == "handoff_released" and conversation:
            await self.publish({"t": "live", "conversation": conversation, "holder": "gone"})

    async def citizen_message(self, conversation_id: str, text: str) -> bool:
        """The chat channel's hook: True when a human has (or is about to have) this conversation,
        so the line goes to the desk instead of the bot."""
        if conversation_id not in self.live:
            return False
        # to the screen first (the live path), then kept with the hand-off
        await self.publish({"t": "line", "conversation": conversation_id, "from": "citizen", "text": text})
        await self.keep(conversation_id, {"from": "citizen", "text": text})
        return True

    async def agent_message(self, conversation_id: str, text: str, agent_no: str) -> None:
        frame = {"type": "agent", "text": text, "agent_no": agent_no}
        await self.publish({"t": "to_citizen", "conversation": conversation_id, "frame": frame})
        await self.publish({"t": "line", "conversation": conversation_id, "from": "agent", "text": text,
                            "agent_no": agent_no})
        await self.keep(conversation_id, {"from": "agent", "text": text, "agent_no": agent_no})


LIVE = web.AppKey("desk_live", LiveDesk)
