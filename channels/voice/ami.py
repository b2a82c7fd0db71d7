"""The gateway's Asterisk Manager (AMI) connection: panoramisk's Manager, which logs in again by
itself after Asterisk restarts, plus the few actions the voice line needs.

Protocol: Asterisk's manager.c and ../shared/ASTERISK.md: a banner line `Asterisk Call Manager/x.y.z`,
then `Key: value` blocks ending in a blank line; responses carry the request's ActionID; list
actions (QueueStatus) answer `EventList: start` and end with a `...Complete` event.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from panoramisk import Manager

from hotline.logs import log_fields

log = logging.getLogger("hotline.voice.ami")


class AmiError(Exception):
    pass


# OriginateResponse's Reason: the last control frame the new channel gave (include/asterisk/frame.h)
ORIGINATE_REASONS = {"0": "failed", "1": "hangup", "3": "no_answer", "4": "answered", "5": "busy",
                     "8": "congestion"}


# DialEnd's DialStatus (app_dial.c): how the dialled side of a call ended
DIAL_STATUSES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no_answer", "CONGESTION": "congestion",
                 "CHANUNAVAIL": "failed", "CANCEL": "hangup"}


class DialWatch:
    """Collects DialEnd events while a call is placed, to tell how its Dial() ended: the
    OriginateResponse of a desk call only says that the agent answered; the citizen's side is the
    Dial the dialplan runs next on the agent's channel (its Uniqueid)."""

    def __init__(self, ami: "AmiClient"):
        self.ami = ami
        self.ended: dict[str, str] = {}
        self._changed = asyncio.Event()
        ami.listeners.append(self._on_event)

    def _on_event(self, event: dict) -> None:
        if event.get("Event") == "DialEnd" and event.get("DialStatus"):
            self.ended[event.get("Uniqueid", "")] = event["DialStatus"]
            self._changed.set()

    async def outcome(self, uniqueid: str, timeout: float) -> str | None:
        """answered | busy | no_answer | congestion | failed | hangup, or None when no DialEnd came."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while uniqueid not in self.ended:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, end - loop.time()))
            except asyncio.TimeoutError:
                return None
        return DIAL_STATUSES.get(self.ended[uniqueid], "failed")

    def close(self) -> None:
        if self._on_event in self.ami.listeners:
            self.ami.listeners.remove(self._on_event)


def originate_outcome(event: dict) -> str:
    """answered | busy | no_answer | congestion | hangup | failed, from an OriginateResponse."""
    if str(event.get("Response", "")).lower() == "success":
        return "answered"
    return ORIGINATE_REASONS.get(str(event.get("Reason", "0")), "failed")


@dataclass
class AmiConfig:
    host: str
    port: int
    username: str
    secret: str

    @classmethod
    def from_url(cls, url: str) -> "AmiConfig":
        """ami://user:secret@host:5038"""
        u = urlsplit(url)
        if u.scheme not in ("ami", "tcp") or not u.hostname or not u.username:
            raise ValueError(f"ami_url {url.split('@')[-1]!r}: expected ami://user:secret@host:port")
        return cls(u.hostname, u.port or 5038, unquote(u.username), unquote(u.password or ""))


class _Manager(Manager):
    """panoramisk reconnects even after close(); a closed client must stay closed."""

    closing = False

    def connection_lost(self, exc):
        if self.closing:
            self._connected = False
            return
        super().connection_lost(exc)

    def connect(self, *args, **kwargs):
        if self.closing:
            return None
        return super().connect(*args, **kwargs)


class AmiClient:
    def __init__(self, config: AmiConfig, *, reconnect_s: int = 1, ping_s: int = 10):
        self.config = config
        self.logged_in = asyncio.Event()
        self.logins = 0
        self.listeners: list = []
        self.manager = _Manager(host=config.host, port=config.port, username=config.username,
                                secret=config.secret, reconnect_timeout=reconnect_s, ping_delay=ping_s,
                                ping_interval=ping_s, loop=asyncio.get_event_loop(),
                                on_login=self._on_login, on_disconnect=self._on_disconnect,
                                log=logging.getLogger("hotline.voice.ami.panoramisk"))
        self.manager.register_event("*", self._on_event)

    def _on_login(self, manager) -> None:
        self.logins += 1
        self.logged_in.set()
        log.info("AMI logged in", extra=log_fields(host=self.config.host, logins=self.logins))

    def _on_disconnect(self, manager, exc) -> None:
        self.logged_in.clear()
        log.warning("AMI connection lost; reconnecting", extra=log_fields(host=self.config.host))

    def _on_event(self, manager, event) -> None:
        for listener in list(self.listeners):
            listener(dict(event))

    def start(self) -> None:
        self.manager.connect()

    async def wait_ready(self, timeout: float = 5.0) -> bool:
        try:
            await asyncio.wait_for(self.logged_in.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def action(self, fields: dict, timeout: float = 5.0):
        if not self.logged_in.is_set() and not await self.wait_ready(timeout):
            raise AmiError(f"AMI not connected to {self.config.host}:{self.config.port}")
        result = await asyncio.wait_for(self.manager.send_action(dict(fields)), timeout)
        first = result[0] if isinstance(result, list) else result
        if str(first.get("Response", "")).lower() not in ("success", "follows", "goodbye"):
            raise AmiError(f"{fields.get('Action')}: {first.get('Message', 'failed')}")
        return result

    async def setvar(self, channel: str, name: str, value: str) -> None:
        await self.action({"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value})

    async def redirect(self, channel: str, context: str, exten: str = "s", priority: int = 1, *,
                       extra_channel: str = "", extra_context: str = "", extra_exten: str = "s",
                       extra_priority: int = 1) -> None:
        """Send a channel (and, with extra_channel, the other leg of its call at the same moment:
        Asterisk's dual redirect, which keeps the bridge from hanging either up) to the dialplan."""
        fields = {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": str(priority)}
        if extra_channel:
            fields["ExtraChannel"] = extra_channel
            if extra_context:
                fields.update(ExtraContext=extra_context, ExtraExten=extra_exten, ExtraPriority=str(extra_priority))
        await self.action(fields)

    async def show_channels(self) -> list[dict]:
        """The live channels (CoreShowChannels: Channel, Uniqueid, Linkedid, BridgeId, ...)."""
        result = await self.action({"Action": "CoreShowChannels"})
        events = result if isinstance(result, list) else [result]
        return [dict(e) for e in events if e.get("Event") == "CoreShowChannel"]

    async def originate(self, channel: str, context: str, exten: str = "s", *, caller_id: str = "12345",
                        variables: dict | None = None, timeout_ms: int = 30000) -> dict:
        """Place an outbound call into `context` (callbacks and poll calls); returns the
        OriginateResponse event: Response Success with the new channel's Uniqueid, or Failure with
        the Reason (ORIGINATE_REASONS)."""
        fields = {"Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": "1", "CallerID": caller_id, "Timeout": str(timeout_ms), "Async": "true"}
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        result = await self.action(fields, timeout=timeout_ms / 1000 + 5)
        events = result if isinstance(result, list) else [result]
        return dict(next((e for e in events if e.get("Event") == "OriginateResponse"), events[-1]))

    async def free_agents(self, queue: str) -> int:
        """Members of `queue` who can take a call now (logged in, not paused, not talking)."""
        result = await self.action({"Action": "QueueStatus", "Queue": queue})
        events = result if isinstance(result, list) else [result]
        free = 0
        for e in events:
            if e.get("Event") != "QueueMember" or e.get("Queue") != queue:
                continue
            # Status 1 = AST_DEVICE_NOT_INUSE; InCall 1 while talking; Paused 1 on a break
            if e.get("Paused") == "1" or e.get("InCall") == "1":
                continue
            if e.get("Status") in ("1", None):
                free += 1
        return free

    def close(self) -> None:
        self.manager.closing = True
        self.manager.close()
        self.logged_in.clear()
