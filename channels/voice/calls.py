"""What the gateway knows about each call, shared by the FastAGI and AudioSocket servers.

FastAGI announces a call (caller number, channel) and gives it a UUID that the dialplan then passes
to AudioSocket(); after the audio part, FastAGI asks what to do next. A UUID nobody announced is
still a call, with an unknown caller.

With several gateway processes (Redis), the process that announces a call owns its audio: the AGI
answer names its AudioSocket address (HOTLINE_AUDIOSOCKET), and what the dialplan asks later
(`next`, `after-queue`, `ended`) may reach any process, so the call's state is also kept in Redis
(`<redis_prefix>call:<uuid>`, `hotline:call:<uuid>` by default), written when it is announced and whenever its audio part ends."""
from __future__ import annotations

import logging
import time
import uuid as uuidlib
from dataclasses import dataclass, field, fields
from typing import Awaitable, Callable

from hotline.shared import DEFAULT_REDIS_PREFIX

log = logging.getLogger("hotline.voice")

# what the dialplan does after the AudioSocket part (deploy/asterisk/extensions.conf)
NEXT_QUEUE, NEXT_VOICEMAIL, NEXT_SURVEY, NEXT_HANGUP = "queue", "voicemail", "survey", "hangup"
# what an AudioSocket connection of the call is for: the bot first; back from the agents' queue the
# survey (an agent answered) or a voicemail (nobody did)
PHASE_BOT, PHASE_SURVEY, PHASE_VOICEMAIL = "bot", "survey", "voicemail"


class CallEnded(Exception):
    """The caller hung up or the audio part is over: every stage of the call stops where it is."""


@dataclass
class CallInfo:
    uuid: str
    caller: str = ""
    caller_name: str = ""
    channel: str = ""
    uniqueid: str = ""
    dnid: str = ""
    direction: str = "inbound"
    purpose: str = ""            # outbound: "callback" or "poll"
    poll_id: str = ""            # a poll call: the poll the desk chose (HOTLINE_POLL)
    announced: bool = False      # a FastAGI request announced it
    next: str = NEXT_HANGUP      # set by the call session, read back by FastAGI
    queue: str = "hotline"
    phase: str = PHASE_BOT
    created: float = field(default_factory=time.monotonic)
    record: dict = field(default_factory=dict)
    owner: str = ""              # the AudioSocket address of the process that announced it
    # set by a shared registry: the session calls it before its hangup frame, so `next` finds the
    # outcome wherever it lands
    shared: Callable[["CallInfo"], Awaitable[None]] | None = field(default=None, repr=False, compare=False)

    @property
    def sender_id(self) -> str:
        return f"voice-{self.uuid}"


# what another process needs of a call: the plain text fields
SHARED_FIELDS = ("caller", "caller_name", "channel", "uniqueid", "dnid", "direction", "purpose", "poll_id",
                 "next", "queue", "phase", "owner")


class CallRegistry:
    def __init__(self, ttl_s: float = 4 * 3600, *, redis=None, owner: str = "", prefix: str = DEFAULT_REDIS_PREFIX):
        self.ttl_s = ttl_s
        self.redis = redis   # redis.asyncio client: calls shared with other gateway processes
        self.prefix = prefix  # setting redis_prefix: gateways of two cities may share one Redis
        self.owner = owner   # this process's AudioSocket address as Asterisk reaches it
        self._calls: dict[str, CallInfo] = {}

    def _key(self, call_uuid: str) -> str:
        return f"{self.prefix}call:{call_uuid}"

    def announce(self, **fields) -> CallInfo:
        self._expire()
        info = CallInfo(uuid=str(uuidlib.uuid4()), announced=True, owner=self.owner, **fields)
        if self.redis is not None:
            info.shared = self.share
        self._calls[info.uuid] = info
        return info

    # ---- shared with other processes ----------------------------------------------------------
    async def share(self, info: CallInfo) -> None:
        """Write the call's state for the other processes (a failure is logged: the dialplan's next
        request may still reach this process, which knows the call)."""
        if self.redis is None:
            return
        key = self._key(info.uuid)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={name: str(getattr(info, name) or "") for name in SHARED_FIELDS})
                pipe.expire(key, int(self.ttl_s))
                await pipe.execute()
        except Exception as exc:
            log.warning("call state not shared", extra={"fields": {"call": info.uuid, "error": str(exc)}})

    async def find(self, call_uuid: str) -> CallInfo | None:
        """The call, from this process or, failing that, from what its owner shared."""
        return self._calls.get(call_uuid) or await self._stored(call_uuid)

    async def for_audio(self, call_uuid: str) -> CallInfo:
        """The call whose AudioSocket connection just came in, with the phase another process may
        have set since (back from the queue: the survey or a voicemail)."""
        info = self._calls.get(call_uuid)
        stored = await self._stored(call_uuid)
        if info is None:
            info = self._calls[call_uuid] = stored or CallInfo(uuid=call_uuid)
        elif stored is not None:
            info.phase = stored.phase
        return info

    async def _stored(self, call_uuid: str) -> CallInfo | None:
        if self.redis is None or not call_uuid:
            return None
        try:
            stored = await self.redis.hgetall(self._key(call_uuid))
        except Exception as exc:
            log.warning("call state not readable", extra={"fields": {"call": call_uuid, "error": str(exc)}})
            return None
        if not stored:
            return None
        values = {k.decode(): v.decode() for k, v in stored.items()}
        known = {f.name for f in fields(CallInfo)}
        info = CallInfo(uuid=call_uuid, announced=True, **{k: v for k, v in values.items() if k in known})
        info.shared = self.share
        return info

    async def drop(self, call_uuid: str) -> None:
        self.forget(call_uuid)
        if self.redis is not None:
            try:
                await self.redis.delete(self._key(call_uuid))
            except Exception:  # it expires by itself
                pass

    def get(self, call_uuid: str) -> CallInfo | None:
        return self._calls.get(call_uuid)

    def get_or_unknown(self, call_uuid: str) -> CallInfo:
        info = self._calls.get(call_uuid)
        if info is None:
            info = CallInfo(uuid=call_uuid)
            self._calls[call_uuid] = info
        return info

    def forget(self, call_uuid: str) -> None:
        self._calls.pop(call_uuid, None)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        for key in [k for k, v in self._calls.items() if v.created < cutoff]:
            del self._calls[key]

    def __len__(self) -> int:
        return len(self._calls)
