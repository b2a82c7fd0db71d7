"""The queue turns wait in for the CPU.

A turn is CPU work on one core (NLU, policies, actions). Interleaved at every `await`, fifty turns
all finish late; one after another, first come, first served, each is answered as soon as it can
be. But a turn ends by waiting for its conversation to be committed (the tracker store's INSERT,
a few milliseconds in which the CPU has nothing to do for it), so it leaves the queue there and the
next turn runs meanwhile. Nothing of the turn follows the commit but handing its replies back.
What a turn waits for before its CPU work (its conversation's lock, bot/engine.py) it waits for
before it queues.
"""
from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from typing import AsyncIterator, Callable, Optional

_leave: ContextVar[Optional[Callable[[], None]]] = ContextVar("leave_turn_queue", default=None)


class TurnQueue:
    def __init__(self, concurrency: int = 1):
        self._slots = asyncio.Semaphore(max(1, concurrency))

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._slots.acquire()
        held = True

        def leave() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        token = _leave.set(leave)
        try:
            yield
        finally:
            _leave.reset(token)
            leave()


def leave_turn_queue() -> None:
    """The current turn's CPU work is done and it only waits for I/O: let the next turn run.
    Outside a turn (an agent resuming a conversation, a tool) it does nothing."""
    leave = _leave.get()
    if leave is not None:
        leave()
