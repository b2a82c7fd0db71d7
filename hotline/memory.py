"""The garbage collector in a gateway that runs for days.

CPython frees most objects by reference counting; its collector is only for cycles, but a full
collection walks every object it tracks while holding the GIL, so no thread runs meanwhile (not
even the audio pacer: calls go silent). A gateway holds two kinds of long-lived objects: the models,
loaded once (about 800,000 objects), and the conversations it serves (10,000 cached trackers of
short conversations are about 1.7 million objects: bench/collector.py). Left alone, full
collections come every 20-60 s under load and walk all of it: measured during 500 held chats,
pauses grew from 78 to 559 ms in four minutes, and every turn in flight waited for them.

So what has survived a full collection is frozen (moved where later collections do not look), and
the next full collection walks only what is newer. Reference counting still frees frozen objects;
what it cannot free is a frozen object that later ends in a garbage cycle. To bound that, once every
`thaw_s` everything is thawed and walked once (logged with what it found), then frozen again.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from dataclasses import dataclass

from .logs import log_fields

log = logging.getLogger("hotline.memory")


def freeze_long_lived() -> None:
    """Put what is loaded by now (the models) out of the collector's sight: a full collection of
    them alone takes 0.6 s on an idle machine, over 1.5 s on a busy one.

    Loading also leaves freed memory in the C heap (TensorFlow builds and drops graphs, the model
    archive is unpacked): it is handed back to the system, about 150 MB of resident memory."""
    gc.collect()
    gc.freeze()
    release_free_memory()


def release_free_memory() -> None:
    """glibc keeps freed memory for reuse; malloc_trim returns the free pages to the system."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


@dataclass
class CollectorFigures:
    full_collections: int = 0
    longest_full_ms: float = 0.0
    thaws: int = 0
    last_thaw_ms: float = 0.0
    last_thaw_found: int = 0


class SurvivorFreezer:
    """Freezes what survives each full collection; thaws everything once per `thaw_s` so that the
    next full collection walks it all."""

    def __init__(self, thaw_s: float, clock=time.monotonic):
        self.thaw_s = thaw_s
        self.clock = clock
        self.figures = CollectorFigures()
        self._started = 0.0
        self._thawed_at = clock()
        self._thawing = False
        self._reported_thaws = 0
        self._task: asyncio.Task | None = None

    def start(self, check_every_s: float = 30) -> None:
        """Install, and look every `check_every_s` whether a thaw is due (from the event loop)."""
        self.install()
        if self._task is None:
            self._task = asyncio.create_task(self._thaw_now_and_then(check_every_s))

    async def stop(self) -> None:
        self.remove()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _thaw_now_and_then(self, check_every_s: float) -> None:
        while True:
            await asyncio.sleep(check_every_s)
            self.thaw_if_due()

    def install(self) -> "SurvivorFreezer":
        if self._after_collection not in gc.callbacks:
            gc.callbacks.append(self._after_collection)
        return self

    def remove(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)

    def _after_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if info.get("generation") != 2:
            return
        took = (time.perf_counter() - self._started) * 1000
        f = self.figures
        if self._thawing:
            self._thawing = False
            f.thaws += 1
            f.last_thaw_ms = took
            f.last_thaw_found = info.get("collected", 0)
        else:
            f.full_collections += 1
            f.longest_full_ms = max(f.longest_full_ms, took)
        gc.freeze()  # the collection has just run: what is tracked now is alive (or newer)

    def thaw_if_due(self) -> bool:
        """Called now and then from the event loop, so that the long walk comes at a chosen moment
        rather than at the allocator's. Returns whether it thawed."""
        self._report_thaw()
        if self.clock() - self._thawed_at < self.thaw_s:
            return False
        self._thawed_at = self.clock()
        self._thawing = True
        gc.unfreeze()  # everything back in the oldest generation
        # (a no-op when another thread is inside a collection: the next full one then does the walk,
        # reported at the next call)
        gc.collect()
        self._report_thaw()
        return True

    def _report_thaw(self) -> None:
        """Log a walk of everything once it is done (not from the gc callback: it may run in any thread)."""
        f = self.figures
        if f.thaws == self._reported_thaws:
            return
        self._reported_thaws = f.thaws
        log.info("garbage collector thawed and walked everything",
                 extra=log_fields(took_ms=round(f.last_thaw_ms), unreachable_found=f.last_thaw_found,
                                  full_collections=f.full_collections, longest_full_ms=round(f.longest_full_ms)))
