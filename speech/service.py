"""The speech service of one gateway process: the shared recognizer model and voice, the prompt
cache, and the threads their CPU work runs on, with the async API the voice channel uses."""
from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import AsyncIterator

import numpy as np

from .audio import resample
from .cache import PromptCache
from .engines import RecognizerModel, RecognizerStream, Synthesizer
from .text import clauses, is_number, spell_digits

log = logging.getLogger("hotline.speech")


def cores() -> int:
    """The cores this process may run on (a container or `taskset` may give it fewer than the machine's)."""
    return len(os.sched_getaffinity(0))


class SpeechThreads:
    """The recognition threads: a queue worked off in order of urgency, then of arrival. A call
    whose caller has stopped talking (a pause or the end of a turn to close) is urgent: its caller
    may be waiting for the text, while the audio of callers still talking can be decoded a moment
    later without anyone waiting on it. (A first-come queue made the waiting caller's last batches
    queue behind every other call's backlog whenever recognition had fallen behind.)"""

    def __init__(self, size: int, name: str):
        self.size, self.name = size, name
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, work, urgent: bool = False) -> None:
        if self._closed:
            raise RuntimeError(f"the {self.name} threads are shut down")
        self._queue.put((0 if urgent else 1, next(self._order), work))

    def _work(self) -> None:
        while True:
            _, _, work = self._queue.get()
            if work is None:
                return
            try:
                work()
            except BaseException:  # (a call's work reports its own failures: this is a bug's last resort)
                log.exception("speech work failed")

    def shutdown(self) -> None:
        """The threads stop after the work in hand; what is queued is dropped."""
        self._closed = True
        for _ in self._threads:
            self._queue.put((-1, next(self._order), None))


@dataclass
class SpeechStats:
    synth_seconds: float = 0.0      # wall time spent synthesizing
    synth_cpu: float = 0.0          # CPU time of it (the synthesis threads' own: one thread each)
    synth_audio: float = 0.0        # seconds of audio produced by it
    rec_seconds: float = 0.0        # wall time in the recognizer (on a busy machine: waiting for a core too)
    rec_cpu: float = 0.0            # CPU time of the recognizer's threads in it
    rec_audio: float = 0.0
    rec_batches: int = 0
    # per decoded batch: seconds from its oldest audio's arrival until it was decoded (how far
    # recognition ran behind the caller), the last 10,000
    rec_delays: collections.deque = field(default_factory=lambda: collections.deque(maxlen=10_000))

    def rtf(self) -> dict:
        return {"synthesis": self.synth_seconds / self.synth_audio if self.synth_audio else None,
                "synthesis_cpu": self.synth_cpu / self.synth_audio if self.synth_audio else None,
                "recognition": self.rec_seconds / self.rec_audio if self.rec_audio else None,
                "recognition_cpu": self.rec_cpu / self.rec_audio if self.rec_audio else None}

    def describe(self) -> str:
        if not self.rec_audio:
            return "nothing decoded"
        delays = sorted(self.rec_delays)
        at = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000  # noqa: E731
        return (f"{self.rec_audio:.0f} s of audio decoded in {self.rec_batches} batches "
                f"(mean {self.rec_audio / max(1, self.rec_batches) * 1000:.0f} ms), "
                f"{self.rec_cpu / self.rec_audio:.2f} CPU-s per s of audio, wall {self.rec_seconds / self.rec_audio:.2f}; "
                f"behind the caller p50 {at(0.5):.0f} ms, p95 {at(0.95):.0f} ms, max {at(1.0):.0f} ms")


@dataclass
class SpeechService:
    recognizer: RecognizerModel
    synthesizer: Synthesizer
    cache: PromptCache
    threads: int = 0        # threads per pool; 0: one per core (each decodes one call at a time)
    batch_ms: int = 200     # audio a call's recognizer is handed at a time (see CallRecognizer)
    stats: SpeechStats = field(default_factory=SpeechStats)

    def __post_init__(self):
        if self.threads < 0 or self.batch_ms < 0:
            raise ValueError(f"speech threads ({self.threads}) and batch_ms ({self.batch_ms}) cannot be negative")
        # two pools: a caller who has stopped talking waits on recognition, so it never queues
        # behind the synthesis of other calls' long prompts
        threads = self.threads or cores()
        self.recognizing = SpeechThreads(threads, "recognize")
        self.synth_executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synthesize")
        self._stats_lock = threading.Lock()
        self._synthesizing: dict[str, asyncio.Future] = {}  # prompt cache key -> synthesis in progress

    # ---- synthesis ------------------------------------------------------------------------------
    def _synthesize(self, clause: str, slow: bool) -> np.ndarray:
        started, cpu = time.perf_counter(), time.thread_time()
        parts = list(self.synthesizer.synthesize(clause, slow))
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        self.stats.synth_seconds += time.perf_counter() - started
        self.stats.synth_cpu += time.thread_time() - cpu
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

    async def prepare(self, texts, rate: int, stopped=lambda: False) -> None:
        """Put `texts` into the prompt cache now, one clause at a time (a gateway starting does not
        crowd out its first calls), until `stopped()`; what is cached already costs nothing."""
        for text in texts:
            for clause, slow in self.plan(text):
                if stopped():
                    return
                await self.clause_audio(clause, rate, slow)

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
    def call_recognizer(self, rate: int, partials: bool = False, background: bool = False) -> "CallRecognizer":
        """`background`: nobody waits on its text (a voicemail's transcript): never urgent."""
        return CallRecognizer(self, rate, partials, background)

    def count_recognition(self, wall: float, cpu: float, audio: float, delay: float | None) -> None:
        with self._stats_lock:  # (from the speech threads)
            self.stats.rec_seconds += wall
            self.stats.rec_cpu += cpu
            self.stats.rec_audio += audio
            if delay is not None:
                self.stats.rec_batches += 1
                self.stats.rec_delays.append(delay)

    def close(self) -> None:
        self.recognizing.shutdown()
        self.synth_executor.shutdown(wait=False, cancel_futures=True)


class CallRecognizer:
    """One call's streaming recognizer: a queue of the call's audio, pauses and requests, worked
    off in order by the speech threads. The event loop only queues; a speech thread decodes one
    batch of at least `batch_ms` (or whatever piled up meanwhile) and, while more is due, puts the
    call back at the end of the pool's queue, so calls take turns batch by batch and a call that
    has fallen behind catches up without waiting for the event loop between batches (before, every
    batch was handed over by the loop, and on a busy machine the loop thread itself waits for a
    core; with the caller keeping pace, batches were one or two 20 ms frames, each a trip through
    the loop and the GIL).

    The engine's stream is made on a speech thread too (a Vosk recognizer takes ~90 ms to set up),
    ahead of the caller's first word when `warm()` is called at the start of the call, and serves
    every turn. `pause()` marks where the caller paused: the segment is closed there, in order with
    the audio, so that when the pause turns out to be the end of the turn the text is (nearly)
    ready. Partial text (the best path through the whole utterance so far, worked out again for
    every batch) is only computed when `partials` is asked for. A call with a pause or a request
    pending is urgent (SpeechThreads): its turns go before those of calls whose callers talk on.

    Bookkeeping (under `_lock`): `_turns` of this call wait in the threads' queue (`_urgent_turns`
    of them urgent), `_running` while a thread works for it; a thread that finds the call running
    on another leaves it (that one looks for more work when it is done), so the call's work stays
    in order on one thread at a time."""

    def __init__(self, service: SpeechService, rate: int, partials: bool = False, background: bool = False):
        self.service = service
        self.stream: RecognizerStream | None = None
        self.rate = rate
        self.partials = partials
        self.background = background
        self.partial = ""   # the text so far: with `partials`, else the closed segments'
        # ("audio", pcm, fed at) | ("pause", None, at) | ("settle"/"finish", (loop, future), at)
        self._pending: collections.deque[tuple[str, object, float]] = collections.deque()
        self._queued = 0        # bytes of audio pending
        self._marks = 0         # pauses and requests pending: the audio before them is due at once
        self._batch = service.batch_ms * rate * 2 // 1000
        self._lock = threading.Lock()  # the queue and the turns' bookkeeping, shared with the speech threads
        self._turns = self._urgent_turns = 0
        self._running = False
        self._closed = False
        self._failed: BaseException | None = None

    # ---- the event loop's side ------------------------------------------------------------------
    def warm(self) -> None:
        """Make the engine's stream now, on a speech thread, so the first word finds it ready."""
        with self._lock:
            self._schedule()

    def feed(self, pcm: bytes) -> None:
        with self._lock:
            if self._closed:  # the call is over: audio still arriving has no turn to go to
                return
            self._pending.append(("audio", pcm, time.monotonic()))
            self._queued += len(pcm)
            if self._queued >= self._batch:
                self._schedule()

    def pause(self) -> None:
        """The caller has paused: close the segment after the audio fed so far."""
        self._mark("pause", None)

    async def settle(self) -> str:
        """Wait until everything fed so far is decoded; the text so far (see `partial`)."""
        return await self._request("settle", self.partial)

    async def finish(self) -> str:
        """Decode what is still queued and return the utterance's text ("" once closed)."""
        return await self._request("finish", "")

    async def close(self) -> None:
        """The call is over: queued audio is dropped and the stream freed (by the speech thread
        when one is decoding for this call now)."""
        with self._lock:
            self._closed = True
            dropped = list(self._pending)
            self._pending.clear()
            self._queued = self._marks = 0
            if not self._running:
                self.stream = None  # the decoder's memory (tens of MB with a large model) goes back
        for kind, request, _ in dropped:
            if kind in ("settle", "finish"):
                _resolve(request, "")

    def _mark(self, kind: str, payload) -> bool:
        with self._lock:
            if self._closed or self._failed is not None:
                return False
            self._pending.append((kind, payload, time.monotonic()))
            self._marks += 1
            self._schedule()
        return True

    async def _request(self, kind: str, when_closed: str) -> str:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._mark(kind, (loop, future)):
            if self._failed is not None:
                raise self._failed
            return when_closed
        return await future

    def _schedule(self) -> None:
        """(with the lock held) Give this call a turn on a speech thread unless one is coming (an
        urgent one, when a pause or a request waits, unless one of those is coming)."""
        if self._closed or self._failed is not None or self._running:
            return  # (a running turn looks for more work when it is done)
        urgent = self._marks > 0 and not self.background
        if self._turns and (self._urgent_turns or not urgent):
            return
        if self._submit(urgent):
            self._turns += 1
            self._urgent_turns += urgent

    def _submit(self, urgent: bool) -> bool:
        try:
            self.service.recognizing.submit(functools.partial(self._turn, urgent), urgent)
            return True
        except RuntimeError as exc:  # the pool is shut down: the speech service is closing
            self._failed = exc
            for kind, request, _ in self._pending:
                if kind in ("settle", "finish"):
                    _fail_request(request, exc)
            self._pending.clear()
            self._queued = self._marks = 0
            return False

    # ---- the speech threads' side ---------------------------------------------------------------
    def _next(self):
        """(with the lock held) The next piece of work that is due: the audio up to the next mark
        in one go once there is a batch of it (or a mark behind it), else a mark; None if none."""
        if not self._pending:
            return None
        kind, payload, at = self._pending[0]
        if kind != "audio":
            self._pending.popleft()
            self._marks -= 1
            return kind, payload, at
        if self._queued < self._batch and not self._marks:
            return None
        chunks = []
        while self._pending and self._pending[0][0] == "audio":
            chunks.append(self._pending.popleft()[1])
        pcm = b"".join(chunks)
        self._queued -= len(pcm)
        return "audio", pcm, at

    def _turn(self, urgent: bool) -> None:
        """One piece of this call's work on a speech thread; back in the queue if more is due."""
        with self._lock:
            self._turns -= 1
            self._urgent_turns -= urgent
            if self._running:
                return
            self._running = True
            work = None if self._closed else self._next()
        try:
            if self.stream is None and not self._closed:
                self.stream = self.service.recognizer.stream(self.rate)
            if work is not None:
                self._do(*work)
        except BaseException as exc:  # the decoder failed: every request waiting, and later ones, get it
            self._fail(exc, work)
            return
        with self._lock:
            self._running = False
            if self._closed:
                self.stream = None
            elif self._pending and (self._marks or self._queued >= self._batch):
                self._schedule()

    def _do(self, kind: str, payload, at: float) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        stream = self.stream
        if kind == "audio":
            self.partial = stream.accept(payload, self.partials)
        elif kind == "pause":
            self.partial = stream.close_segment()
        elif kind == "finish":
            text = stream.finish()
            self.partial = ""
            _resolve(payload, text)
        else:
            _resolve(payload, self.partial)
        audio = len(payload) / (2 * self.rate) if kind == "audio" else 0.0
        self.service.count_recognition(time.perf_counter() - wall, time.thread_time() - cpu, audio,
                                       time.monotonic() - at if kind == "audio" else None)

    def _fail(self, exc: BaseException, work) -> None:
        with self._lock:
            self._failed = exc
            waiting = [p for kind, p, _ in [*([work] if work else []), *self._pending] if kind in ("settle", "finish")]
            self._pending.clear()
            self._queued = self._marks = 0
            self._running = False
        for request in waiting:
            _fail_request(request, exc)


def _resolve(request, value) -> None:
    loop, future = request
    if not loop.is_closed():
        loop.call_soon_threadsafe(_set_result, future, value)


def _fail_request(request, exc: BaseException) -> None:
    loop, future = request
    if not loop.is_closed():
        loop.call_soon_threadsafe(_set_exception, future, exc)


def _set_result(future: asyncio.Future, value) -> None:
    if not future.done():  # (a caller who hung up stopped waiting)
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
