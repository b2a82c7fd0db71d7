"""One phone call: the AudioSocket connection, the paced audio going back, and the conversation with
the bot (channel "voice", sender id from the call). The caller's input goes through two stages of
their own: hearing.py (audio -> end of speech -> recognized text) and keypad.KeyEntry (keys ->
menu choices and typed numbers); both put the caller's turns on one queue (`inputs`). The audio
back goes through player.py; what the call leaves behind (recording, case links, the call record)
through aftercall.py; a voicemail and the closing survey are stages of their own (voicemail.py,
survey.py); each spoken turn's wait for its reply is timed stage by stage (timing.py).

Timing rules Asterisk imposes (../shared/ASTERISK.md): frames go back in real time, 20 ms each, and
the line never stays quiet for 2 s, so the player sends silence whenever it has nothing to say
(while the bot thinks, too). Only audio and hangup frames are sent.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.turns import Turn, TurnResult
from hotline.logs import log_fields
from speech.audio import WavRecorder
from speech.service import SpeechService
from speech.vad import VadSettings

from . import audiosocket as aso
from . import aftercall, keypad, survey, voicemail
from .calls import NEXT_HANGUP, NEXT_QUEUE, PHASE_BOT, PHASE_SURVEY, PHASE_VOICEMAIL, CallEnded, CallInfo
from .hearing import Hearing
from .player import Pacer, Player
from .survey import GOODBYE
from .timing import TurnTiming

log = logging.getLogger("hotline.voice")

FRAME_MS = 20                    # AudioSocket's frames: 20 ms of audio each
FRAME_S = FRAME_MS / 1000
FRAME_GAP_S = 0.12               # no frame for this long inside speech: the caller's side stopped sending

REPROMPTS = ("您好，您还在吗？请说出您要办理的业务，或者按键选择。",
             "抱歉，我没有听到您的声音。您可以直接说“我要投诉”或“查询进度”，人工服务请按0。")
NOT_HEARD = "抱歉，我没有听清，请您再说一遍，或者按键选择。"
STOPPING_TRANSFER = "系统正在维护，正在为您转接人工服务，请稍候。"
# the gateway's own prompts, synthesized when it starts (VoiceChannel.start) so that no caller waits
# for their synthesis: the not-heard prompt answers a turn, and its latency is the caller's
FIXED_PROMPTS = (survey.PROMPT, *REPROMPTS, NOT_HEARD, voicemail.BUSY, voicemail.EMPTY + GOODBYE, GOODBYE,
                 STOPPING_TRANSFER)


@dataclass
class VoiceSettings:
    vad: VadSettings = field(default_factory=VadSettings)
    no_input_s: float = 7.0          # quiet after a prompt before it is asked again
    digit_timeout_s: float = 3.0     # a typed number ends this long after its last key (or with #)
    voicemail_max_s: float = 120.0
    voicemail_end_silence_ms: int = 4000
    queue: str = "hotline"
    preroll_frames: int = 20         # audio kept before speech is certain, fed to the recognizer too
    decoded_quiet_ms: int = 200      # of a pause, what the recognizer decodes at once; the rest waits


class CallSession:
    def __init__(self, info: CallInfo, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 speech: SpeechService, engine, store=None, ami=None, settings: VoiceSettings | None = None,
                 data_dir: Path | None = None, pacer: Pacer | None = None):
        self.pacer = pacer or Pacer()
        self.info = info
        self.reader = reader
        self.writer = writer
        self.speech = speech
        self.engine = engine
        self.store = store
        self.ami = ami
        self.s = settings or VoiceSettings()
        self.data_dir = data_dir
        self.rate = 8000
        self.player: Player | None = None
        self.hearing = Hearing(self.s.vad, self.rate, None)  # its recognizer comes with the first audio
        self.inputs: asyncio.Queue = asyncio.Queue()       # the caller's turns, spoken or keyed
        self.entry = keypad.KeyEntry(self.inputs.put_nowait, self.s.digit_timeout_s)
        self.speaking: asyncio.Task | None = None
        self.ended = asyncio.Event()
        self.hung_up_by_caller = False
        self.recorder: WavRecorder | None = None
        self.voicemail: bytearray | None = None
        self.voicemail_voiced_ms = 0
        self.transcribing: asyncio.Task | None = None  # a voicemail's transcript, after the number is read out
        self.stopping = asyncio.Event()                # the gateway is stopping
        self.turns: list[dict] = []
        self.menu_path: list[str] = []
        self.started = dt.datetime.now(dt.timezone.utc)
        self.end_reason = ""
        # timing marks (time.monotonic()) the benchmark and tests read (and hearing.last_voiced_at)
        self.barge_ins: list[float] = []
        self.answered_at: list[float] = []  # per turn: when the bot's answer was ready to be spoken
        # per spoken input taken: where the wait for its reply went (channels/voice/timing.py)
        self.timings: list[TurnTiming] = []
        self.answering: TurnTiming | None = None  # the spoken input next_input() returned last
        self._heard_until = 0.0           # time.monotonic() the audio heard so far reaches
        self._filling = False             # frames stopped coming: quiet is being timed by the clock

    # ---- audio in -------------------------------------------------------------------------------
    async def read_loop(self) -> None:
        read = None
        try:
            while True:
                if read is None:
                    read = asyncio.ensure_future(aso.read_frame(self.reader))
                if self.hearing.vad.in_speech and self.player is not None:
                    # a phone or trunk with silence suppression sends nothing while the caller is
                    # quiet: the quiet is timed by the clock, or the utterance would never end
                    done, _ = await asyncio.wait({read}, timeout=self._gap_wait())
                    if not done:
                        self.hear_missing_quiet()
                        continue
                frame = await read
                read = None
                if frame is None or frame.kind == aso.Kind.HANGUP:
                    self.hung_up_by_caller = True
                    self.end_reason = self.end_reason or "caller hung up"
                    break
                if frame.is_audio:
                    self.on_audio(frame)
                elif frame.kind == aso.Kind.DTMF:
                    self.on_key(frame.digit)
                elif frame.kind == aso.Kind.ERROR:
                    code = frame.payload[0] if frame.payload else 0
                    self.end_reason = f"Asterisk reported an error: {aso.ERRORS.get(code, hex(code))}"
                    break
                elif frame.kind == aso.Kind.UUID:
                    raise aso.ProtocolError("a second UUID frame in the same call")
        except aso.ProtocolError as exc:
            self.end_reason = f"malformed frame: {exc}"
            log.warning("call ended: malformed AudioSocket frame",
                        extra=log_fields(call=self.info.uuid, reason=str(exc)))
        except (ConnectionError, asyncio.IncompleteReadError):
            # how a real Asterisk ends the connection when the caller hangs up: it closes the socket
            # with the gateway's frames unread, so the gateway reads a reset
            self.hung_up_by_caller = True
            self.end_reason = self.end_reason or "caller hung up"
        finally:
            if read is not None and not read.done():
                read.cancel()
            self.ended.set()

    def _gap_wait(self) -> float:
        """Seconds to wait for the next frame before the missing ones count as quiet: a frame is
        late after FRAME_GAP_S (network jitter stays well under it), then every 20 ms."""
        due = self._heard_until + (FRAME_S if self._filling else FRAME_GAP_S)
        return max(0.0, due - time.monotonic())

    def hear_missing_quiet(self) -> None:
        """The frames that did not come since the last one, heard as silence (20 ms each)."""
        self._filling = True
        silence = bytes(2 * self.rate * FRAME_MS // 1000)
        while self._heard_until + FRAME_S <= time.monotonic() and self.hearing.vad.in_speech:
            self._heard_until += FRAME_S
            self.on_pcm(silence)

    def on_audio(self, frame: aso.Frame) -> None:
        if frame.rate != self.rate or self.player is None:
            self.set_rate(frame.rate)
        self._heard_until = time.monotonic()
        self._filling = False
        self.on_pcm(frame.payload)

    def on_pcm(self, pcm: bytes) -> None:
        if self.recorder is None and self.data_dir is not None:
            self.open_recording()
        if self.recorder is not None:
            self.recorder.write(pcm)
        event, text = self.hearing.feed(pcm, transcribe=self.voicemail is None)
        if self.voicemail is not None:
            self.voicemail += pcm
            if self.hearing.vad.voiced:
                self.voicemail_voiced_ms += len(pcm) * 1000 // (2 * self.rate)
        if event == "start":
            self.barge_in("speech")
        if text is not None:
            self.inputs.put_nowait(("speech", text, TurnTiming(heard=self.hearing.last_voiced_at,
                                                               ended=time.monotonic())))
        elif event == "end" and self.voicemail is not None:
            self.inputs.put_nowait(("quiet", None, self.hearing.last_voiced_at))

    # the stages' state, read by the benchmark and the tests
    vad = property(lambda self: self.hearing.vad)
    recognizer = property(lambda self: self.hearing.recognizer)
    capturing = property(lambda self: self.hearing.capturing)
    last_voiced_at = property(lambda self: self.hearing.last_voiced_at)
    keys = property(lambda self: self.entry.keys)

    @property
    def replied_at(self) -> list[float]:
        """Per spoken input: when the gateway's reply was ready, whatever was recognized (the bot's
        answer, or NOT_HEARD when the recognizer returned no text: no bot turn, but still a reply)."""
        return [t.answered for t in self.timings if t.answered]

    @property
    def key_map(self) -> dict[str, str]:
        return self.entry.key_map

    @key_map.setter
    def key_map(self, value: dict[str, str]) -> None:
        self.entry.key_map = value

    def set_rate(self, rate: int) -> None:
        changed = rate != self.rate
        self.rate = rate
        if self.player is None or changed:
            old = self.player
            self.player = Player(self.writer, rate, self.pacer)
            if old is not None:
                old.close()
            self.hearing = Hearing(self.s.vad, rate, self.speech.call_recognizer(rate),
                                   preroll_frames=self.s.preroll_frames, decoded_quiet_ms=self.s.decoded_quiet_ms)
            self.hearing.recognizer.warm()

    def on_key(self, key: str) -> None:
        self.barge_in("key")
        self.entry.cancel_timer()
        if self.voicemail is None:
            self.entry.press(key)
        elif key == "#":  # a voicemail ends with #; other keys are part of it
            self.inputs.put_nowait(("keys", "#", time.monotonic()))

    def drop_pending_input(self) -> None:
        while not self.inputs.empty():
            self.inputs.get_nowait()
        self.entry.clear()

    def barge_in(self, why: str) -> None:
        """Caller speech or a key stops the prompt at once; what they say is the next turn."""
        if self.speaking is not None and not self.speaking.done():
            self.speaking.cancel()
            self.barge_ins.append(time.monotonic())
            log.debug("barge-in", extra=log_fields(call=self.info.uuid, by=why))
        if self.player is not None and self.player.frames:
            self.player.clear()

    # ---- audio out ------------------------------------------------------------------------------
    async def _say(self, text: str, answering: TurnTiming | None) -> None:
        async for pcm in self.speech.speak(text, self.rate):
            if answering is None:
                self.player.enqueue(pcm)
                continue
            answering.queued = answering.queued or time.monotonic()
            if self.player.enqueue(pcm, on_voiced=functools.partial(setattr, answering, "sent")):
                answering = None
        await self.player.drained.wait()

    async def say(self, text: str, *, wait: bool = True, answering: TurnTiming | None = None) -> None:
        """Speak `text`; returns when it has been played or a barge-in stopped it. `answering`: the
        spoken turn this replies to, whose last stages are timed here."""
        if not text.strip():
            return
        if self.player is None:
            self.set_rate(self.rate)
        if self.speaking is not None and not self.speaking.done():
            await self.next_input_done()
        self.speaking = asyncio.ensure_future(self._say(text, answering))
        if wait:
            await asyncio.wait({self.speaking, asyncio.ensure_future(self.ended.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            if self.ended.is_set():
                self.speaking.cancel()
                raise CallEnded()

    async def next_input(self, timeout: float):
        """The caller's next turn: ("speech", text, t) or ("keys", value, t); None after `timeout`
        of quiet counted from the end of the prompt. A spoken one's timing is `answering`."""
        self.answering = None
        await self.next_input_done()  # the silence is timed from the end of the prompt
        getter = asyncio.ensure_future(self.inputs.get())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            done, _ = await asyncio.wait({getter, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if getter not in done:
            getter.cancel()
            if self.ended.is_set():
                raise CallEnded()
            if self.vad.in_speech or self.keys:  # the caller is still talking or typing
                return await self.next_input(timeout)
            return None
        kind, value, at = getter.result()
        if kind == "speech":
            value = await value
            at.recognized = time.monotonic()
            self.timings.append(at)
            self.answering, at = at, at.heard
        return kind, value, at

    # ---- the conversation -----------------------------------------------------------------------
    def metadata(self) -> dict:
        meta = {"caller_number": self.info.caller, "call_uuid": self.info.uuid, "channel_name": self.info.channel,
                "direction": self.info.direction, "locale": "zh"}
        if self.info.poll_id:
            meta["poll_id"] = int(self.info.poll_id)
        return meta

    async def ask_bot(self, text: str, source: str, heard_at: float | None = None,
                      answering: TurnTiming | None = None) -> TurnResult:
        """One turn; `heard_at`: when the caller finished (last voiced frame or key), so the call
        record shows how long the caller waited for the answer to be ready (recognition + bot);
        `answering`: the spoken turn it answers."""
        result = await self.engine.handle(Turn(self.info.sender_id, "voice", text, self.metadata()))
        if text.startswith("/"):
            self.menu_path.append(text.split("{")[0])
        now = time.monotonic()
        turn = {"at": time.time(), "source": source, "said": text, "bot": result.text, "signals": result.signals}
        if heard_at:
            turn["wait_ms"] = round((now - heard_at) * 1000)
        if answering is not None:
            answering.answered = now
            turn["recognized_ms"] = round((answering.recognized - answering.heard) * 1000)
        self.turns.append(turn)
        self.answered_at.append(now)
        return result

    async def speak_result(self, result: TurnResult, answering: TurnTiming | None = None) -> None:
        buttons = [b for r in result.replies for b in r.buttons]
        self.key_map = keypad.key_map(buttons)
        text = " ".join(r.text for r in result.replies if r.text)
        await self.say(text + keypad.spoken_choices(text, buttons), wait=False, answering=answering)

    async def run(self) -> None:
        self.set_rate(self.rate)  # silence flows from the first moment, before the bot has said anything
        reader_task = asyncio.ensure_future(self.read_loop())
        talk = asyncio.ensure_future(self.conversation())
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({talk, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not talk.done():  # the gateway is stopping: the caller is handed on, not dropped
                talk.cancel()
                await asyncio.gather(talk, return_exceptions=True)
                await self.leave_on_stop()
        finally:
            stop.cancel()
            talk.cancel()
            await self.finish()
            reader_task.cancel()

    async def conversation(self) -> None:
        try:
            if self.info.phase == PHASE_SURVEY:
                await survey.run(self)
            elif self.info.phase == PHASE_VOICEMAIL:  # nobody in the queue answered
                await voicemail.take(self)
            else:
                opening = "/take_poll" if self.info.purpose == "poll" else "/greet"
                await self.converse(await self.ask_bot(opening, "call"))
        except CallEnded:
            pass

    def stop(self) -> None:
        self.stopping.set()

    async def leave_on_stop(self) -> None:
        """A caller in the middle of business goes to the agents (the dialplan's rule when the
        gateway is gone); one in the survey or a voicemail's end hears the goodbye."""
        if self.ended.is_set():
            return
        to_agents = self.info.phase == PHASE_BOT and not self.info.record.get("voicemail_cases")
        self.barge_in("gateway stopping")
        self.end_reason = "gateway stopped"
        self.info.next = NEXT_QUEUE if to_agents else NEXT_HANGUP
        try:
            await self.say(STOPPING_TRANSFER if to_agents else GOODBYE)
            await self.hang_up(self.info.next)
        except CallEnded:
            pass

    async def converse(self, result: TurnResult) -> None:
        silences = 0
        answering = None  # the spoken turn `result` answers
        while True:
            if await self.act(result, answering):
                return
            answering = None
            got = await self.next_input(self.s.no_input_s)
            if got is None:
                silences += 1
                if silences > len(REPROMPTS):
                    result = await self.ask_bot(keypad.HUMAN, "timeout")
                    continue
                await self.say(REPROMPTS[silences - 1], wait=False)
                result = None
                continue
            silences = 0
            kind, value, heard_at = got
            answering = self.answering if kind == "speech" else None
            if kind == "speech" and not value.strip():
                answering.answered = time.monotonic()
                await self.say(NOT_HEARD, wait=False, answering=answering)
                result = None
                continue
            result = await self.ask_bot(value, kind, heard_at, answering)

    async def act(self, result: TurnResult | None, answering: TurnTiming | None = None) -> bool:
        """Say the bot's reply (to the spoken turn `answering`, if it was one) and follow its
        signals; True when the audio part of the call is over."""
        if result is None:
            return False
        signals = result.signals
        await self.speak_result(result, answering)
        if "handoff" in signals:
            return await self.hand_off()
        if "hangup" in signals or "end_of_conversation" in signals:
            await self.next_input_done()
            await self.hang_up(NEXT_HANGUP)
            return True
        if "record_voicemail" in signals:
            await voicemail.take(self)
            return True
        return False

    async def next_input_done(self) -> None:
        """Let the current prompt play to its end, or to a barge-in (a goodbye is not cut off)."""
        if self.speaking is not None and not self.speaking.done():
            ended = asyncio.ensure_future(self.ended.wait())
            try:
                await asyncio.wait({self.speaking, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
        if self.speaking is not None and self.speaking.done() and not self.speaking.cancelled():
            exc = self.speaking.exception()
            if exc is not None:
                log.error("playback failed", extra=log_fields(call=self.info.uuid, error=repr(exc)))
        if self.ended.is_set():
            raise CallEnded()

    async def hand_off(self) -> bool:
        free = None
        if self.ami is not None:
            try:
                free = await self.ami.free_agents(self.s.queue)
            except Exception as exc:  # the queue decides then: Asterisk still has its own timeout
                log.warning("queue status unavailable", extra=log_fields(call=self.info.uuid, error=str(exc)))
        self.info.record["agents_free"] = free
        if free == 0:
            await self.next_input_done()
            await voicemail.take(self)
            return True
        await self.next_input_done()
        self.info.queue = self.s.queue
        await self.hang_up(NEXT_QUEUE)
        return True

    async def hang_up(self, next_step: str) -> None:
        """End the audio part: the dialplan goes on with `next_step` (queue, survey, hangup)."""
        self.info.next = next_step
        if self.info.shared is not None:  # before the hangup frame: `next` may reach another process
            await self.info.shared(self.info)
        self.end_reason = self.end_reason or f"gateway: {next_step}"
        if self.player is not None:
            await self.player.hang_up()
        else:
            try:
                self.writer.write(aso.hangup_frame())
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                pass
        raise CallEnded()

    # ---- records --------------------------------------------------------------------------------
    def open_recording(self) -> None:
        if self.data_dir is None:
            return
        folder = self.data_dir / "recordings" / self.started.strftime("%Y%m%d")
        folder.mkdir(parents=True, exist_ok=True)
        self.recording_path = folder / f"{self.info.uuid}-caller.wav"
        self.recorder = WavRecorder(self.recording_path, self.rate)

    async def finish(self) -> None:
        if self.player is not None:
            self.player.close()
        self.entry.cancel_timer()
        if self.speaking is not None:
            self.speaking.cancel()
        if self.voicemail is not None and self.store is not None:  # hung up while recording
            audio, self.voicemail = bytes(self.voicemail), None
            try:
                await voicemail.file_recorded(self, audio)
            except Exception:
                log.exception("voicemail lost", extra=log_fields(call=self.info.uuid))
        if self.transcribing is not None:
            try:
                await self.transcribing
            except Exception:
                log.exception("voicemail transcript not stored", extra=log_fields(call=self.info.uuid))
        if self.recorder is not None:
            self.recorder.close()
        await self.hearing.close()
        await aftercall.wrap_up(self)
        try:
            self.writer.close()
        except Exception:
            pass
        log.info("call ended", extra=log_fields(call=self.info.uuid, reason=self.end_reason, turns=len(self.turns)))
