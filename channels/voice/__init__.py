"""The phone channel: Asterisk reaches the gateway by FastAGI (call set-up and what comes next),
AudioSocket (the call's audio both ways) and AMI (queue status, outbound calls).

`VoiceChannel.start()` opens both listeners (127.0.0.1 unless configured; only the allowed Asterisk
addresses are served: channels/voice/peers.py); each AudioSocket connection becomes a CallSession.
A connection that breaks the protocol ends alone; other calls never notice. `close()` ends every call
properly: a short notice and the hangup frame, so the dialplan goes on (to the agents, or the goodbye).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hotline.logs import log_fields
from hotline.shared import DEFAULT_REDIS_PREFIX

from . import audiosocket as aso
from . import keypad
from .agi import FastAgiServer, serve_agi
from .ami import AmiClient, AmiConfig
from .calls import CallInfo, CallRegistry
from .peers import LOOPBACK, PeerFilter
from .session import FIXED_PROMPTS, CallSession, Pacer, VoiceSettings

log = logging.getLogger("hotline.voice")

FIRST_FRAME_TIMEOUT_S = 5.0
STOP_GRACE_S = 10.0  # a stopping gateway gives its calls this long to hear the notice and be handed on
AGENT_CHECK_S = 1.0  # how long a caller's turn waits for the queue's status before handing off regardless


def bot_phrases(engine) -> list[str]:
    """What the bot says on the phone that has no slot in it: its domain's responses, the voice
    variation where there is one, with the key list read after them (CallSession.speak_result)."""
    responses = getattr(getattr(getattr(engine, "agent", None), "domain", None), "responses", None) or {}
    phrases = []
    for variations in responses.values():
        spoken = [v for v in variations if v.get("channel") == "voice"] or [v for v in variations if not v.get("channel")]
        for v in spoken:
            text = v.get("text") or ""
            if text and "{" not in text:
                phrases.append(text + keypad.spoken_choices(text, v.get("buttons") or []))
    return phrases


class VoiceChannel:
    def __init__(self, speech, engine, *, store=None, host: str = "127.0.0.1", agi_port: int = 4573,
                 audiosocket_port: int = 9092, ami_url: str = "", data_dir: Path | None = None,
                 settings: VoiceSettings | None = None, peers: PeerFilter | None = None,
                 redis=None, reuse_port: bool = False, audiosocket_address: str = "",
                 redis_prefix: str = DEFAULT_REDIS_PREFIX):
        self.speech = speech
        self.engine = engine
        self.store = store
        self.host = host
        self.agi_port = agi_port
        self.audiosocket_port = audiosocket_port
        self.data_dir = data_dir
        self.settings = settings or VoiceSettings()
        # several gateway processes: calls are shared through Redis, the FastAGI port is shared
        # (SO_REUSEPORT), each process has its own AudioSocket address
        self.calls = CallRegistry(redis=redis, prefix=redis_prefix)
        self.reuse_port = reuse_port
        self.audiosocket_address = audiosocket_address
        self.ami = AmiClient(AmiConfig.from_url(ami_url)) if ami_url else None
        self.peers = peers or PeerFilter(LOOPBACK)
        self.sessions: set[CallSession] = set()
        self.pacer = Pacer()
        self._servers: list[asyncio.AbstractServer] = []
        self.agi_app: FastAgiServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self.prompts_ready: asyncio.Task | None = None  # the fixed prompts being synthesized into the cache
        self._closed = False

    async def start(self) -> None:
        parse = getattr(self.engine, "parse", None)
        if parse is not None:
            # the first call into the bot's models builds their graphs, holding the event loop for
            # a second or more: done before any call is up, not in the middle of one
            try:
                await parse("你好")
            except Exception as exc:
                log.warning("bot warm-up failed", extra=log_fields(error=str(exc)))
        self.agi_app = FastAgiServer(self.calls, peers=self.peers, on_ended=self._on_call_ended)
        agi = await serve_agi(self.agi_app, self.host, self.agi_port, reuse_port=self.reuse_port)
        audio = await asyncio.start_server(self._on_audiosocket, self.host, self.audiosocket_port)
        self._servers = [agi, audio]
        self.agi_port = agi.sockets[0].getsockname()[1]
        self.audiosocket_port = audio.sockets[0].getsockname()[1]
        # told to the dialplan when calls are shared (one process alone: the dialplan's own address)
        self.calls.owner = self.audiosocket_address or (
            f"{self.host}:{self.audiosocket_port}"
            if self.calls.redis is not None and self.host not in ("", "0.0.0.0", "::") else "")
        if self.ami is not None:
            self.ami.start()
            runtime = getattr(self.engine, "runtime", None)
            if runtime is not None:  # the bot asks before a hand-off that would interrupt a form
                runtime.agent_checks["voice"] = self._agent_free
        if self.speech is not None:
            self.prompts_ready = asyncio.ensure_future(self._prepare_prompts())
        log.info("voice listening", extra=log_fields(agi=self.agi_port, audiosocket=self.audiosocket_port,
                                                     ami=bool(self.ami)))

    async def _prepare_prompts(self) -> None:
        """The gateway's own prompts and the bot's fixed sentences into the prompt cache, at
        AudioSocket's rate, so that a caller never waits for their synthesis (the welcome starts
        every call; the not-heard prompt is a reply)."""
        try:
            await self.speech.prepare([*FIXED_PROMPTS, *bot_phrases(self.engine)], 8000, lambda: self._closed)
        except Exception as exc:  # (a prompt is then synthesized when first said, as before)
            log.warning("prompts not prepared", extra=log_fields(error=str(exc)))

    async def _on_audiosocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.peers.allows(writer.get_extra_info("peername")):
            writer.close()
            return
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            try:
                first = await asyncio.wait_for(aso.read_frame(reader), FIRST_FRAME_TIMEOUT_S)
            except (aso.ProtocolError, asyncio.TimeoutError, ConnectionError) as exc:
                log.warning("AudioSocket connection refused", extra=log_fields(
                    reason=str(exc) or type(exc).__name__))
                writer.close()
                return
            if first is None or first.kind != aso.Kind.UUID:
                log.warning("AudioSocket connection refused: the first frame must be the call's UUID",
                            extra=log_fields(kind=None if first is None else hex(first.kind)))
                writer.close()
                return
            info = await self.calls.for_audio(first.uuid)
            if not info.announced:
                log.info("call without a FastAGI announcement: unknown caller", extra=log_fields(call=first.uuid))
            session = CallSession(info, reader, writer, speech=self.speech, engine=self.engine, store=self.store,
                                  ami=self.ami, settings=self.settings, data_dir=self.data_dir,
                                  pacer=self.pacer)
            self.sessions.add(session)
            try:
                await session.run()
            except Exception:
                log.exception("call failed", extra=log_fields(call=info.uuid))
                writer.close()
            finally:
                self.sessions.discard(session)
        finally:
            self._tasks.discard(task)

    def session(self, uuid: str) -> CallSession | None:
        """The call in progress with this AudioSocket UUID, if any."""
        return next((s for s in list(self.sessions) if s.info.uuid == uuid), None)

    async def originate(self, number: str, purpose: str = "callback", *, trunk: str = "PJSIP/{number}@trunk",
                        context: str = "hotline-outbound", variables: dict | None = None,
                        timeout_ms: int = 30000) -> dict:
        """A callback or poll call: Asterisk dials `number`, and the answered call enters the
        outbound context, which runs the same FastAGI + AudioSocket path (purpose in HOTLINE_PURPOSE;
        a poll call names its poll in HOTLINE_POLL). Returns the OriginateResponse event."""
        if self.ami is None:
            raise RuntimeError("outbound calls need AMI: set ami_url (HOTLINE_AMI_URL)")
        # HOTLINE_NUMBER: the citizen's number for the call's record (its caller id is the hotline's)
        return await self.ami.originate(trunk.format(number=number), context, "s", timeout_ms=timeout_ms,
                                        variables={"HOTLINE_PURPOSE": purpose, "HOTLINE_NUMBER": number,
                                                   **(variables or {})})

    async def _on_call_ended(self, info: CallInfo) -> None:
        """The caller hung up (Asterisk's hangup handler): a hand-off to the desk made in this call
        is released, whether it ended in the survey, a voicemail or with no rating at all."""
        if self.engine is None or not hasattr(self.engine, "is_paused"):
            return
        try:
            if await self.engine.is_paused(info.sender_id):
                await self.engine.resume(info.sender_id)
        except Exception as exc:
            log.warning("hand-off not released", extra=log_fields(call=info.uuid, error=str(exc)))

    async def _agent_free(self) -> bool | None:
        """Is a member of the hand-off queue free now (Asterisk's QueueStatus)? None while AMI is
        away: the caller's turn does not wait for it."""
        if not self.ami.logged_in.is_set():
            return None
        return await asyncio.wait_for(self.ami.free_agents(self.settings.queue), AGENT_CHECK_S) > 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # (the prompts being prepared stop after the clause in hand: awaited below)
        runtime = getattr(self.engine, "runtime", None)
        if runtime is not None and runtime.agent_checks.get("voice") == self._agent_free:
            del runtime.agent_checks["voice"]
        for server in self._servers:
            server.close()
        # every call hears a short notice and gets the hangup frame (the dialplan then hands it on);
        # what is still running after the grace time is cancelled, its records written all the same
        for session in list(self.sessions):
            session.stop()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in tasks:
            task.cancel()
        # let each call write its records and attach its recordings before the database goes
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self.pacer.stop()
        if self.ami is not None:
            self.ami.close()
        if self.prompts_ready is not None:
            await asyncio.gather(self.prompts_ready, return_exceptions=True)
