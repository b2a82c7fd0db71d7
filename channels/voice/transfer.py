"""Transfers (转接) of an agent's live call through AMI: blind (the citizen is sent to the number and
the agent is free) and attended (the agent talks to the department first, then joins the citizen to
it and leaves, or takes the citizen back).

Everything the citizen hears and every fallback lives in the dialplan (deploy/asterisk/extensions.conf,
the [hotline-transfer*] contexts), so a gateway that goes away mid-transfer leaves no one in silence:
1. CoreShowChannels finds the agent's channel and the citizen's in the same bridge (conference.live_call);
2. Setvar puts the transfer on the citizen's channel (and, attended, the agent's): its id, the number,
   how long to ring, the agent to come back to;
3. blind: Redirect moves the citizen to [hotline-transfer] (which dials the number with a ringback
   tone, and on busy / no answer rings the agent again, then the queue); the agent's leg, left alone
   in its bridge, is hung up. Attended: one Redirect moves the agent to [hotline-transfer-consult]
   (its leg dials the number; when that ends uncompleted the citizen's leg is sent to
   [hotline-transfer-rejoin] and bridges with the agent's again) and the citizen to
   [hotline-transfer-hold] (a tone);
4. completing an attended transfer: the citizen's leg is Redirected to [hotline-transfer-join], which
   bridges it with the department's leg (taken from the agent's bridge); then the agent is hung up.
The dialplan reports each step as `UserEvent: HotlineTransfer` with `Id` and `Step` (Dial's
DIALSTATUS, ANSWER, returned, queue, transferred, citizen_hung_up, agent_hung_up, ...);
TransferWatch turns them into outcomes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from .ami import AmiClient, AmiError
from .conference import LiveCall, NoLiveCall, live_call

log = logging.getLogger("hotline.voice.transfer")

BLIND, ATTENDED = "blind", "attended"
MODES = (BLIND, ATTENDED)
BLIND_CONTEXT = "hotline-transfer"
HOLD_CONTEXT = "hotline-transfer-hold"
CONSULT_CONTEXT = "hotline-transfer-consult"
JOIN_CONTEXT = "hotline-transfer-join"

# the dialplan's steps → what became of the transfer (None: not an outcome, only progress)
STEP_OUTCOMES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no_answer", "CONGESTION": "failed",
                 "CHANUNAVAIL": "failed", "CANCEL": "citizen_hung_up", "declined": "declined",
                 "cancelled": "cancelled", "citizen_hung_up": "citizen_hung_up",
                 "agent_hung_up": "agent_hung_up", "transferred": "answered"}
RETURN_STEPS = {"returned": "agent", "queue": "queue"}


class TransferError(Exception):
    """The transfer cannot be done now (no live call, nothing to complete, AMI refused)."""


@dataclass
class TransferState:
    """What the gateway knows of one transfer while it is under way."""
    id: str
    mode: str
    number: str
    call: LiveCall
    started: float = field(default_factory=time.monotonic)
    steps: list = field(default_factory=list)       # (step, monotonic time)
    answered: bool = False                          # the department's leg answered
    outcome: str | None = None                      # final: answered | busy | no_answer | ...
    returned_to: str | None = None                  # agent | queue
    ended: bool = False                             # nothing more to follow
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def consulting(self) -> bool:
        return self.mode == ATTENDED and self.answered and self.outcome is None


class TransferWatch:
    """Follows the dialplan's HotlineTransfer events for the transfers this gateway started; calls
    `on_change(state, step)` after each one (the desk writes the case's history there)."""

    def __init__(self, ami: AmiClient, on_change=None):
        self.ami = ami
        self.on_change = on_change
        self.transfers: dict[str, TransferState] = {}
        ami.listeners.append(self._on_event)

    def _on_event(self, event: dict) -> None:
        if event.get("Event") != "UserEvent" or event.get("UserEvent") != "HotlineTransfer":
            return
        state = self.transfers.get(event.get("Id", ""))
        if state is None:
            return
        self.apply(state, event.get("Step", ""))

    def apply(self, state: TransferState, step: str) -> None:
        state.steps.append((step, time.monotonic()))
        if step == "ANSWER":
            state.answered = True
            if state.mode == BLIND and state.outcome is None:
                state.outcome = "answered"
        elif step in RETURN_STEPS:
            state.returned_to = RETURN_STEPS[step]
        elif step in STEP_OUTCOMES and state.outcome is None:
            state.outcome = STEP_OUTCOMES[step]
            if step == "agent_hung_up":  # the dialplan sends the citizen to the queue
                state.returned_to = "queue"
            elif state.mode == ATTENDED and state.outcome not in ("answered", "citizen_hung_up"):
                state.returned_to = "agent"  # the agent's leg bridges back to the citizen at once
        state.ended = state.ended or step == "citizen_hung_up" or state.returned_to is not None \
            or state.outcome in ("answered", "citizen_hung_up")
        state.changed.set()
        if self.on_change is not None:
            self.on_change(state, step)

    async def wait(self, state: TransferState, predicate, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not predicate(state):
            state.changed.clear()
            try:
                await asyncio.wait_for(state.changed.wait(), max(0.0, end - loop.time()))
            except asyncio.TimeoutError:
                return predicate(state)
        return True

    def forget(self, transfer_id: str) -> None:
        self.transfers.pop(transfer_id, None)

    def close(self) -> None:
        if self._on_event in self.ami.listeners:
            self.ami.listeners.remove(self._on_event)


async def _hangup(ami: AmiClient, channel: str) -> None:
    try:
        await ami.action({"Action": "Hangup", "Channel": channel})
    except AmiError:  # already gone
        pass


async def find_call(ami: AmiClient, agent_no: str) -> LiveCall:
    """The agent's two-party live call, or TransferError."""
    try:
        call = await live_call(ami, agent_no)
    except NoLiveCall:
        raise TransferError("no live call") from None
    except AmiError as exc:
        raise TransferError(str(exc)) from None
    if not call.other_channel:  # a three-way conference: nothing to hand over as one call
        raise TransferError("the call is a three-way conference")
    return call


async def start(ami: AmiClient, watch: TransferWatch, call: LiveCall, *, agent_no: str, transfer_id: str,
                mode: str, number: str, ring_s: int) -> TransferState:
    """Begin a transfer of `agent_no`'s live call (find_call) to `number`; returns at once (the
    department's phone is ringing or about to); the outcome arrives through `watch`."""
    if mode not in MODES:
        raise TransferError(f"mode must be one of {MODES}")
    state = TransferState(transfer_id, mode, number, call)
    watch.transfers[transfer_id] = state
    citizen = {"HOTLINE_XFER_ID": transfer_id, "HOTLINE_XFER_NUMBER": number, "HOTLINE_XFER_RING": str(ring_s),
               "HOTLINE_XFER_AGENT": agent_no}
    try:
        for name, value in citizen.items():
            await ami.setvar(call.other_channel, name, value)
        if mode == BLIND:
            await ami.redirect(call.other_channel, BLIND_CONTEXT, "s")
            await _hangup(ami, call.agent_channel)  # the agent is free (usually already hung up)
        else:
            agent = {**citizen, "HOTLINE_XFER_PEER": call.other_channel}
            for name, value in agent.items():
                await ami.setvar(call.agent_channel, name, value)
            await ami.setvar(call.other_channel, "HOTLINE_XFER_AGENTCHAN", call.agent_channel)
            await ami.redirect(call.agent_channel, CONSULT_CONTEXT, "s", extra_channel=call.other_channel,
                               extra_context=HOLD_CONTEXT, extra_exten="s")
    except AmiError as exc:
        watch.forget(transfer_id)
        raise TransferError(str(exc)) from None
    return state


async def _department_leg(ami: AmiClient, state: TransferState) -> str:
    """The department's channel: the agent's bridge's other member."""
    channels = await ami.show_channels()
    agent = next((c for c in channels if c.get("Channel") == state.call.agent_channel), None)
    if agent is None or not agent.get("BridgeId"):
        return ""
    return next((c["Channel"] for c in channels if c.get("BridgeId") == agent["BridgeId"]
                 and c["Channel"] != state.call.agent_channel), "")


async def complete(ami: AmiClient, state: TransferState, settle_s: float = 3.0) -> None:
    """Attended: join the citizen to the department the agent is talking to; the agent leaves."""
    if not state.consulting:
        raise TransferError("no consultation to complete")
    department = await _department_leg(ami, state)
    if not department:
        raise TransferError("the department's leg is gone")
    try:
        await ami.setvar(state.call.agent_channel, "HOTLINE_XFER_DONE", "1")
        await ami.setvar(state.call.other_channel, "HOTLINE_XFER_TARGET", department)
        await ami.redirect(state.call.other_channel, JOIN_CONTEXT, "s")
    except AmiError as exc:
        await ami.setvar(state.call.agent_channel, "HOTLINE_XFER_DONE", "")
        raise TransferError(str(exc)) from None
    # the agent's leg is hung up only once the department's has moved over (hanging it up before
    # would end the department's leg with it)
    loop = asyncio.get_running_loop()
    end = loop.time() + settle_s
    while loop.time() < end:
        channels = {c["Channel"]: c for c in await ami.show_channels()}
        citizen, dept = channels.get(state.call.other_channel), channels.get(department)
        if citizen is None or dept is None or (citizen.get("BridgeId") and citizen.get("BridgeId") == dept.get("BridgeId")):
            break
        await asyncio.sleep(0.05)
    await _hangup(ami, state.call.agent_channel)


async def take_back(ami: AmiClient, state: TransferState) -> None:
    """Attended: the agent takes the citizen back (the department rings or talks): the department's
    leg is hung up, and the dialplan bridges the agent with the citizen again."""
    if state.mode != ATTENDED or state.outcome is not None:
        raise TransferError("no consultation to end")
    try:
        await ami.setvar(state.call.agent_channel, "HOTLINE_XFER_STEP", "cancelled")
    except AmiError as exc:
        raise TransferError(str(exc)) from None
    department = await _department_leg(ami, state)
    if department:
        await _hangup(ami, department)
        return
    # still ringing: hang up the ringing leg, the call's one channel that is neither the agent's
    # nor the citizen's (the agent's Dial then goes on, and bridges back to the citizen)
    for c in await ami.show_channels():
        if c.get("Linkedid") == state.call.linkedid and not c.get("BridgeId") \
                and c.get("Channel") not in (state.call.other_channel, state.call.agent_channel):
            await _hangup(ami, c["Channel"])
            return
    raise TransferError("the department's leg is gone")


__all__ = ["ATTENDED", "BLIND", "MODES", "TransferError", "TransferState", "TransferWatch", "complete",
           "find_call", "start", "take_back"]
