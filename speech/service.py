"""The speech service of one gateway process: the shared recognizer model and voice, the prompt
cache, and the threads their CPU work runs on, with the async API the voice channel uses."""
from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import AsyncIterator

import numpy as np

from .audio import resample
from .cache import PromptCache
from .engines import RecognizerModel, RecognizerStream, Synthesizer
from .text import clauses, is_number, spell_digits


@dataclass
class SpeechStats:
    synth_seconds: float = 0.0      # CPU-side time spent synthesizing
    synth_audio: float = 0.0        # seconds of audio produced by it
    rec_seconds: float = 0.0
    rec_audio: float = 0.0

    def rtf(self) -> dict:
        return {"synthesis": self.synth_seconds / self.synth_audio if self.synth_audio else None,
                "recognition": self.rec_seconds / self.rec_audio if self.rec_audio else None}


@dataclass
class SpeechService:
    recognizer: RecognizerModel
    synthesizer: Synthesizer
    cache: PromptCache
    threads: int = 2
    stats: SpeechStats = field(default_factory=SpeechStats)

    def __post_init__(self):
        # two pools: a caller who has stopped talking waits on recognition, so it never queues
        # behind the synthesis of other calls' long prompts
        self.executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="recognize")
        self.synth_executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="synthesize")
        self._synthesizing: dict[str, asyncio.Future] = {}  # prompt cache key -> synthesis in progress

    # ---- synthesis ------------------------------------------------------------------------------
    def _synthesize(self, clause: str, slow: bool) -> np.ndarray:
        started = time.perf_counter()
        parts = list(self.synthesizer.synthesize(clause, slow))
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        self.stats.synth_seconds += time.perf_counter() - started
        self.stats.synth_audio += len(audio) / self.synthesizer.sample_rate
        return audio

    async def clause_audio(self, clause: str, rate: int, slow: bool = False) -> bytes:
        """One clause as PCM at `rate`: from the cache, else synthesized in a thread and cached.

        A synthesis runs to its end and is cached even when the caller who asked for it barges
        in (the next caller will want the same prompt), and calls asking for a clause that is
        already being synthesized wait for that one instead of starting another."""
        key = self.cache.key(self.synthesizer.voice_id, rate, slow, clause)
        pcm = self.cache.get(key)
        if pcm is not None:
            return pcm
        loop = asyncio.get_running_loop()
        job = self._synthesizing.get(key)
        if job is None or job.get_loop() is not loop:  # (one left by a loop that has since closed)
            def work() -> bytes:
                audio = self._synthesize(clause, slow)
                return resample(audio, self.synthesizer.sample_rate, rate).astype("<i2").tobytes()

            job = loop.run_in_executor(self.synth_executor, work)
            self._synthesizing[key] = job
            job.add_done_callback(lambda done: self._synthesized(key, done))
        return await asyncio.shield(job)

    def _synthesized(self, key: str, job: asyncio.Future) -> None:
        if self._synthesizing.get(key) is job:
            del self._synthesizing[key]
        if not job.cancelled() and job.exception() is None:
            self.cache.put(key, job.result())

    def plan(self, text: str) -> list[tuple[str, bool]]:
        """(clause, slow) pairs: numbers spelled digit by digit and read slowly."""
        spoken = spell_digits(text, self.synthesizer.language)
        return [(c, is_number(c)) for c in clauses(spoken)]

    async def speak(self, text: str, rate: int) -> AsyncIterator[bytes]:
        """PCM for `text`, clause by clause; the next clause is synthesized while this one plays."""
        plan = self.plan(text)
        if not plan:
            return
        pending = asyncio.ensure_future(self.clause_audio(plan[0][0], rate, plan[0][1]))
        try:
            for i in range(len(plan)):
                pcm = await pending
                if i + 1 < len(plan):
                    pending = asyncio.ensure_future(self.clause_audio(plan[i + 1][0], rate, plan[i + 1][1]))
                yield pcm
        finally:
            if not pending.done():
                pending.cancel()

    # ---- recognition ----------------------------------------------------------------------------
    def call_recognizer(self, rate: int) -> "CallRecognizer":
        return CallRecognizer(self, rate)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.synth_executor.shutdown(wait=False, cancel_futures=True)


class CallRecognizer:
    """One call's streaming recognizer: audio is queued as it arrives and decoded in order on the
    speech threads, batching whatever piled up while the previous batch was decoded. The engine's
    stream is made on a speech thread too (a Vosk recognizer takes ~90 ms to set up, which would
    stall every call's audio if done on the event loop), ahead of the caller's first word when
    `warm()` is called at the start of the call, and serves every turn of the call. `pause()` marks
    where the caller paused: the segment is closed there, in order with the audio, so that when the
    pause turns out to be the end of the turn the text is (nearly) ready."""

    def __init__(self, service: SpeechService, rate: int):
        self.service = service
        self.stream: RecognizerStream | None = None
        self.rate = rate
        self.partial = ""
        self._pending: collections.deque[bytes | None] = collections.deque()  # audio, None: a pause
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._closed = False

    def _stream(self) -> RecognizerStream:
        if self.stream is None:
            self.stream = self.service.recognizer.stream(self.rate)
        return self.stream

    def warm(self) -> None:
        """Make the engine's stream now, on a speech thread, so the first word finds it ready."""
        self._kick()

    def feed(self, pcm: bytes) -> None:
        if self._closed:  # the call is over: audio still arriving has no turn to go to
            return
        self._pending.append(pcm)
        self._kick()

    def pause(self) -> None:
        """The caller has paused: close the segment after the audio fed so far."""
        if not self._closed:
            self._pending.append(None)
            self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    def _accept(self, pcm: bytes | None) -> str:
        started = time.perf_counter()
        text = self._stream().accept(pcm) if pcm is not None else self._stream().close_segment()
        self.service.stats.rec_seconds += time.perf_counter() - started
        self.service.stats.rec_audio += len(pcm or b"") / (2 * self.rate)
        return text

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._closed:
                return
            if self.stream is None:
                await loop.run_in_executor(self.service.executor, self._stream)
            while self._pending:
                item = self._pending.popleft()
                if item is not None:  # the audio that piled up, up to the next pause, in one go
                    chunks = [item]
                    while self._pending and self._pending[0] is not None:
                        chunks.append(self._pending.popleft())
                    item = b"".join(chunks)
                self.partial = await loop.run_in_executor(self.service.executor, self._accept, item)

    async def settle(self) -> str:
        """Wait until everything fed so far is decoded; the partial text."""
        await self._drain()
        return self.partial

    async def finish(self) -> str:
        """Decode what is still queued and return the utterance's text ("" once closed)."""
        await self._drain()
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._closed:
                return ""
            started = time.perf_counter()
            text = await loop.run_in_executor(self.service.executor, lambda: self._stream().finish())
            self.service.stats.rec_seconds += time.perf_counter() - started
        self.partial = ""
        return text

    async def close(self) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            self._pending.clear()
            try:
                await self._task
            except Exception:  # a call that is gone has nothing more to decode
                pass
        async with self._lock:
            self.stream = None  # the decoder's memory (tens of MB with a large model) goes back
