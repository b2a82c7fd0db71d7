"""What the gateway knows about each call, shared by the FastAGI and AudioSocket servers.

FastAGI announces a call (caller number, channel) and gives it a UUID that the dialplan then passes
to AudioSocket(); after the audio part, FastAGI asks what to do next. A UUID nobody announced is
still a call, with an unknown caller."""
from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass, field

# what the dialplan does after the AudioSocket part (deploy/asterisk/extensions.conf)
NEXT_QUEUE, NEXT_VOICEMAIL, NEXT_SURVEY, NEXT_HANGUP = "queue", "voicemail", "survey", "hangup"
# what an AudioSocket connection of the call is for: the bot first; back from the agents' queue the
# survey (an agent answered) or a voicemail (nobody did)
PHASE_BOT, PHASE_SURVEY, PHASE_VOICEMAIL = "bot", "survey", "voicemail"


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

    @property
    def sender_id(self) -> str:
        return f"voice-{self.uuid}"


class CallRegistry:
    def __init__(self, ttl_s: float = 4 * 3600):
        self.ttl_s = ttl_s
        self._calls: dict[str, CallInfo] = {}

    def announce(self, **fields) -> CallInfo:
        self._expire()
        info = CallInfo(uuid=str(uuidlib.uuid4()), announced=True, **fields)
        self._calls[info.uuid] = info
        return info

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
