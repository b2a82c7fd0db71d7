"""Helpers for conversation tests: a model trained once per test run, an engine per test on the
test's own database, and a citizen who answers whatever the bot asks."""
from __future__ import annotations

import itertools
import json

from bot.engine import Engine
from bot.turns import Turn, TurnResult

_ids = itertools.count(1)


def new_sender(prefix: str = "t") -> str:
    return f"{prefix}-{next(_ids)}"


async def say(engine: Engine, sender: str, text: str, channel: str = "rest", **metadata) -> TurnResult:
    return await engine.handle(Turn(sender, channel, text, metadata))


async def receive_until(ws, predicate, limit=30) -> list[dict]:
    """The web chat's frames up to the first that `predicate` accepts."""
    frames = []
    for _ in range(limit):
        frame = json.loads((await ws.receive(timeout=30)).data)
        frames.append(frame)
        if predicate(frame):
            return frames
    raise AssertionError(frames)


async def requested_slot(engine: Engine, sender: str) -> str | None:
    tracker = await engine.agent.tracker_store.retrieve(sender)
    return tracker.get_slot("requested_slot") if tracker else None


async def slot(engine: Engine, sender: str, name: str):
    tracker = await engine.agent.tracker_store.retrieve(sender)
    return tracker.get_slot(name) if tracker else None


async def answer_form(engine: Engine, sender: str, answers: dict[str, str], first: TurnResult,
                      channel: str = "rest", max_turns: int = 12, **metadata) -> tuple[TurnResult, list[str]]:
    """Answer each question of the active form from `answers` until it stops asking.

    Returns the last result and the slots that were asked, so a test can check the bot asked
    only for what was missing."""
    asked: list[str] = []
    result = first
    for _ in range(max_turns):
        wanted = await requested_slot(engine, sender)
        if wanted is None:
            return result, asked
        assert wanted in answers, f"the bot asked for {wanted!r}: {result.text}"
        asked.append(wanted)
        result = await say(engine, sender, answers[wanted], channel, **metadata)
    raise AssertionError(f"the form kept asking: {asked}")
