"""FastAGI server (panoramisk's Application, with a stricter reader of the request headers).

Protocol: Asterisk's res_agi.c (setup_env) and ../shared/ASTERISK.md: on AGI(agi://host:port/script?query,
args) Asterisk connects, sends `agi_name: value` lines (24 on Asterisk 22, args as agi_arg_N) and one
blank line, then waits for commands, one line each, answered `200 result=N [(data)]` or
`510 Invalid or unknown command`. Closing the socket lets the dialplan go on.

Scripts (deploy/asterisk/extensions.conf): `hotline` announces a call and answers with the UUID to
give AudioSocket(); `hotline/next?uuid=...` tells the dialplan what to do after the audio part
(HOTLINE_NEXT); `hotline/after-queue?uuid=...&status=${QUEUESTATUS}` says whether the caller, back
from the agents' queue, gets the survey (an agent answered) or a voicemail (nobody did);
`hotline/ended?uuid=...` (the hangup handler) tells the gateway the call is over.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from urllib.parse import parse_qsl

from panoramisk.fast_agi import Application, Request

from hotline.logs import log_fields

from .calls import NEXT_HANGUP, NEXT_QUEUE, PHASE_SURVEY, PHASE_VOICEMAIL, CallRegistry
from .peers import PeerFilter
from .recordings import LINKEDID

log = logging.getLogger("hotline.voice.agi")

MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT_S = 5.0


class AgiError(Exception):
    pass


def parse_headers(block: bytes) -> OrderedDict:
    """`agi_x: value` lines to a dict; an empty value (agi_accountcode:) is kept as ""."""
    headers: OrderedDict = OrderedDict()
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.startswith("agi_"):
            headers[name.strip()] = value.strip()
    return headers


def script_and_query(headers: dict) -> tuple[str, dict]:
    script = headers.get("agi_network_script", "")
    path, _, query = script.partition("?")
    return path.strip("/"), dict(parse_qsl(query))


async def command(request: Request, line: str) -> dict:
    """Send one AGI command; raises AgiError unless Asterisk answers 200."""
    result = await request.send_command(line)
    if result.get("status_code") != 200:
        raise AgiError(f"{line.split()[0]} refused: {result}")
    return result


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# QUEUESTATUS when the caller leaves Queue() without an agent (app_queue.c queue_results); CONTINUE:
# an agent answered and hung up (option c)
QUEUE_UNANSWERED = {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "WITHDRAW"}


class FastAgiServer(Application):
    def __init__(self, calls: CallRegistry, *, peers: PeerFilter | None = None, on_ended=None):
        super().__init__(default_encoding="utf-8", loop=asyncio.get_event_loop())
        self.calls = calls
        self.peers = peers or PeerFilter()
        self.on_ended = on_ended  # async callable(CallInfo): the call is over
        self.add_route("hotline", self.start_call)
        self.add_route("hotline/next", self.next_step)
        self.add_route("hotline/after-queue", self.after_queue)
        self.add_route("hotline/ended", self.ended)

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """panoramisk's handler loops forever on a peer that closes before the blank line and
        routes on the script with its query; this one reads the block with a limit and a timeout."""
        peer = writer.get_extra_info("peername")
        if not self.peers.allows(peer):
            writer.close()
            return
        try:
            block = await asyncio.wait_for(reader.readuntil(b"\n\n"), HEADER_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError) as exc:
            log.warning("FastAGI request without a complete header block",
                        extra=log_fields(peer=str(peer), error=type(exc).__name__))
            writer.close()
            return
        headers = parse_headers(block)
        path, query = script_and_query(headers)
        route = self._route.get(path)
        try:
            if route is None:
                log.warning("FastAGI request for an unknown script", extra=log_fields(script=path))
            else:
                await route(Request(self, headers, reader, writer, self.default_encoding), query)
        except (AgiError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.warning("FastAGI request failed", extra=log_fields(script=path, error=str(exc)))
        except Exception:
            log.exception("FastAGI request failed", extra=log_fields(script=path))
        finally:
            writer.close()

    async def start_call(self, request: Request, query: dict) -> None:
        h = request.headers
        caller = h.get("agi_callerid", "")
        if query.get("direction") == "outbound" and query.get("number"):
            caller = query["number"]  # an outbound call's caller id is the hotline's own number
        # the call's id is its linkedid (the uniqueid of its first channel): the AGI channel's own
        # uniqueid differs when the call came in through a Local channel
        linkedid = query.get("linkedid", "")
        info = self.calls.announce(
            caller="" if caller in ("unknown", "") else caller,
            caller_name="" if h.get("agi_calleridname") in (None, "unknown") else h["agi_calleridname"],
            channel=h.get("agi_channel", ""),
            uniqueid=linkedid if LINKEDID.match(linkedid) else h.get("agi_uniqueid", ""),
            dnid=h.get("agi_dnid", ""), direction=query.get("direction", "inbound"),
            purpose=query.get("purpose", ""))
        info.record.update({"job": query.get("job", ""), "case": query.get("case", "")})
        info.poll_id = query.get("poll", "") if query.get("poll", "").isdigit() else ""
        await self.calls.share(info)
        await command(request, f"SET VARIABLE HOTLINE_UUID {info.uuid}")
        if info.owner:  # this process's AudioSocket: the call's audio must come here
            await command(request, f"SET VARIABLE HOTLINE_AUDIOSOCKET {info.owner}")
        log.info("call announced", extra=log_fields(call=info.uuid, channel=info.channel,
                                                    direction=info.direction))

    async def next_step(self, request: Request, query: dict) -> None:
        call_uuid = query.get("uuid") or request.headers.get("agi_arg_1", "")
        info = await self.calls.find(call_uuid)  # announced here or by another gateway process
        nxt = info.next if info else "hangup"
        await command(request, f"SET VARIABLE HOTLINE_NEXT {nxt}")
        if info is not None and nxt == NEXT_QUEUE:
            await command(request, f"SET VARIABLE HOTLINE_QUEUE {info.queue}")
            info.phase = PHASE_SURVEY  # back from the queue, the same UUID is the survey
            await self.calls.share(info)
        log.info("call continues", extra=log_fields(call=call_uuid, next=nxt))

    async def after_queue(self, request: Request, query: dict) -> None:
        """Back from Queue(): the survey after an agent, a voicemail when nobody answered. Set here
        and not only by `next`, so a call whose `next` request failed (and went to the agents by
        the dialplan's own rule) still gets its survey."""
        call_uuid = query.get("uuid", "")
        status = query.get("status", "").upper()
        if not call_uuid:
            return
        info = await self.calls.find(call_uuid) or self.calls.get_or_unknown(call_uuid)
        info.phase = PHASE_VOICEMAIL if status in QUEUE_UNANSWERED else PHASE_SURVEY
        await self.calls.share(info)
        log.info("call back from the queue", extra=log_fields(call=call_uuid, status=status or "-", phase=info.phase))

    async def ended(self, request: Request, query: dict) -> None:
        info = await self.calls.find(query.get("uuid", ""))
        if info is None:
            return
        info.next = NEXT_HANGUP
        await self.calls.drop(info.uuid)
        if self.on_ended is not None:
            await self.on_ended(info)


async def start_agi_server(calls: CallRegistry, host: str, port: int, *, peers: PeerFilter | None = None,
                           on_ended=None) -> asyncio.AbstractServer:
    return await serve_agi(FastAgiServer(calls, peers=peers, on_ended=on_ended), host, port)


async def serve_agi(app: FastAgiServer, host: str, port: int, *, reuse_port: bool = False) -> asyncio.AbstractServer:
    """Listen for FastAGI requests to `app` (the caller keeps the app: uvloop's servers take no
    attributes, so nothing is hung on the server object)."""
    return await asyncio.start_server(app.handler, host, port, limit=MAX_HEADER_BYTES, reuse_port=reuse_port or None)
