"""Three-way calls (三方通话) through AMI: an agent on a call brings a third number into it.

Asterisk 20+ has no AMI action that adds a party to a two-party bridge, so the call is moved into a
conference (deploy/asterisk/extensions.conf, confbridge.conf):
1. CoreShowChannels finds the agent's live channel (`PJSIP/<agent_no>-…` in a bridge) and the other
   leg in the same bridge (the citizen);
2. Setvar HOTLINE_BRIDGE on both legs names the conference after the call's linkedid (one per call);
3. one Redirect with ExtraChannel moves both legs at the same moment (Asterisk's dual redirect keeps
   the bridge from hanging up the leg left behind): the agent to THREEWAY_AGENT_CONTEXT (the
   conference's marked user), the citizen to THREEWAY_CONTEXT;
4. Originate dials the third number through a Local channel in THREEWAY_DIAL_CONTEXT, whose answered
   half joins the same conference.
An agent already in the conference (ConfBridge, its name the first word of the application's data)
can bring in one more party: only step 4.
The call's recording (the agent channel's MixMonitor) goes on through the move, so it holds all three.
"""
from __future__ import annotations

from dataclasses import dataclass

from .ami import AmiClient, AmiError

THREEWAY_AGENT_CONTEXT = "hotline-threeway-agent"
THREEWAY_CONTEXT = "hotline-threeway"
THREEWAY_DIAL_CONTEXT = "hotline-threeway-dial"


class NoLiveCall(Exception):
    """The agent has no answered call to add anyone to."""


@dataclass
class LiveCall:
    agent_channel: str
    other_channel: str          # empty when the agent is already in the call's conference
    linkedid: str
    other_number: str
    conference: str = ""        # the conference the agent is in, if any

    @property
    def bridge(self) -> str:
        return self.conference or "hotline-" + self.linkedid


def agent_channel_prefix(agent_no: str) -> str:
    return f"PJSIP/{agent_no}-"


async def live_call(ami: AmiClient, agent_no: str) -> LiveCall:
    """The agent's answered call: the agent's channel and the other channel of its bridge."""
    channels = await ami.show_channels()
    prefix = agent_channel_prefix(agent_no)
    mine = [c for c in channels if c.get("Channel", "").startswith(prefix) and c.get("BridgeId")]
    for agent in mine:
        linkedid = agent.get("Linkedid") or agent.get("Uniqueid", "")
        if agent.get("Application") == "ConfBridge":  # a three-way call already: one more party joins
            return LiveCall(agent["Channel"], "", linkedid, "", agent.get("ApplicationData", "").split(",")[0])
        others = [c for c in channels if c.get("BridgeId") == agent["BridgeId"] and c is not agent]
        if len(others) == 1:
            other = others[0]
            number = other.get("CallerIDNum", "")
            return LiveCall(agent["Channel"], other["Channel"], linkedid, "" if number == "<unknown>" else number)
    raise NoLiveCall(agent_no)


async def add_third_party(ami: AmiClient, call: LiveCall, number: str, *, variables: dict | None = None,
                          timeout_ms: int = 45000) -> dict:
    """Move the call into its conference and dial `number` into it; returns the OriginateResponse."""
    if call.other_channel:  # a two-party call: both legs move into its conference first
        for channel in (call.agent_channel, call.other_channel):
            await ami.setvar(channel, "HOTLINE_BRIDGE", call.bridge)
        await ami.redirect(call.agent_channel, THREEWAY_AGENT_CONTEXT, "s", extra_channel=call.other_channel,
                           extra_context=THREEWAY_CONTEXT, extra_exten="s")
    return await ami.originate(f"Local/{number}@{THREEWAY_DIAL_CONTEXT}", THREEWAY_CONTEXT, "s",
                               caller_id=f"12345 <{number}>", timeout_ms=timeout_ms,
                               variables={"HOTLINE_BRIDGE": call.bridge, **(variables or {})})


__all__ = ["AmiError", "LiveCall", "NoLiveCall", "add_third_party", "live_call"]
